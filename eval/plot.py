"""The hit@k plot of the report: one curve per system, k = 1, 3, 5, 10; one panel per corpus."""

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
    return plot_hit_at_k_panels({title: scorecards}, path)


def plot_hit_at_k_panels(panels: dict[str, dict[str, dict]], path: str | Path, title: str = "") -> Path:
    """One PNG, one panel per entry of `panels` (panel title -> system name -> scorecard), side by side."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes_row = plt.subplots(
        1, max(len(panels), 1), figsize=(6 * max(len(panels), 1), 4), dpi=120, squeeze=False
    )
    for axes, (panel_title, scorecards) in zip(axes_row[0], panels.items()):
        _draw_hit_at_k(axes, scorecards, panel_title)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _draw_hit_at_k(axes, scorecards: dict[str, dict], title: str) -> None:
    for position, (name, card) in enumerate(scorecards.items()):
        values = [card["overall"]["metrics"][f"hit@{k}"] for k in HIT_KS]
        # distinct markers, dashes and sizes keep curves visible when they coincide
        axes.plot(
            HIT_KS,
            [v if v is not None else float("nan") for v in values],
            label=name,
            marker=MARKERS[position % len(MARKERS)],
            linestyle=LINESTYLES[position % len(LINESTYLES)],
            markersize=9 - 1.5 * (position % len(MARKERS)),
        )
    axes.set_xticks(HIT_KS)
    axes.set_xlabel("k (passages retrieved)")
    axes.set_ylabel("hit@k (answerable questions)")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    axes.legend(loc="lower right")
