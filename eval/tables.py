"""Render scorecards as compact plain-text or Markdown tables."""

from __future__ import annotations

from eval.score import METRICS, MISS_KINDS


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if metric.startswith("latency") else f"{value:.3f}"


def format_difference(metric: str, ours: float | None, theirs: float | None) -> str:
    """Signed difference ours - theirs, marked (better) or (worse) by the metric's direction."""
    if ours is None or theirs is None:
        return "-"
    difference = ours - theirs
    number = f"{difference:+.1f}" if metric.startswith("latency") else f"{difference:+.3f}"
    if float(number) == 0:  # equal at the precision shown
        return "0"
    better = (difference > 0) == METRICS[metric]
    return f"{number} ({'better' if better else 'worse'})"


def render_table(headers: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    if markdown:
        lines = [
            "| " + " | ".join(headers) + " |",
            "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(row) for row in rows])


def breakdown_table(scorecard: dict, markdown: bool = False) -> str:
    """Every metric (rows) for all items, each question type and each language (columns)."""
    groups = [("all", scorecard["overall"])]
    groups += [(name, card) for name, card in scorecard["by_type"].items()]
    groups += [(name, card) for name, card in scorecard["by_lang"].items()]
    headers = ["metric"] + [name for name, _ in groups]
    rows = [["n"] + [str(card["n"]) for _, card in groups]]
    rows += [[metric] + [format_value(metric, card["metrics"][metric]) for _, card in groups] for metric in METRICS]
    return render_table(headers, rows, markdown)


def misses_lines(scorecard: dict, markdown: bool = False, limit: int | None = None) -> list[str]:
    """One line per kind of miss with its item ids (the first `limit` of them, when given)."""
    bullet = "- " if markdown else "  "
    lines = []
    for kind in MISS_KINDS:
        ids = scorecard["overall"]["misses"][kind]
        listed = ids if limit is None else ids[:limit]
        shown = ", ".join(f"`{i}`" if markdown else str(i) for i in listed) if ids else "none"
        if len(listed) < len(ids):
            shown += f", … and {len(ids) - len(listed)} more"
        lines.append(f"{bullet}{kind} ({len(ids)}): {shown}")
    return lines


def metrics_line(metrics: dict, names: tuple[str, ...] | list[str]) -> str:
    """`hit@1 0.950 · hit@5 1.000 · …` for these metrics of one scorecard."""
    return " · ".join(f"{name} {format_value(name, metrics[name])}" for name in names)


def format_scorecard(scorecard: dict) -> str:
    """Human-readable scorecard for the terminal."""
    overall = scorecard["overall"]
    summary = (
        f"{overall['n']} items ({overall['n_answerable']} answerable, "
        f"{overall['n_unanswerable']} unanswerable); {overall['n_answered']} answerable answered, "
        f"{overall['n_citations']} citations"
    )
    return "\n".join([summary, "", breakdown_table(scorecard), "", "misses:"] + misses_lines(scorecard))
