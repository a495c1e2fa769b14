"""The hit@k plot of the report: one curve per system, k = 1, 3, 5, 10."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)

from eval.score import HIT_KS  # noqa: E402

MARKERS = ("o", "s", "^", "D")
LINESTYLES = ("-", "--", "-.", ":")


def plot_hit_at_k(scorecards: dict[str, dict], path: str | Path, title: str) -> Path:
    """Write a PNG of hit@k for every system in `scorecards` (system name -> scorecard)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for position, (name, card) in enumerate(scorecards.items()):
        values = [card["overall"]["metrics"][f"hit@{k}"] for k in HIT_KS]
        # distinct markers, dashes and sizes keep curves visible when they coincide
        axes.plot(HIT_KS, [v if v is not None else float("nan") for v in values], label=name,
                  marker=MARKERS[position % len(MARKERS)], linestyle=LINESTYLES[position % len(LINESTYLES)],
                  markersize=9 - 1.5 * (position % len(MARKERS)))
    axes.set_xticks(HIT_KS)
    axes.set_xlabel("k (passages retrieved)")
    axes.set_ylabel("hit@k (answerable questions)")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
