"""What each benchmark returns (a Section of tables, notes and targets) and the RESULTS.md it makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.machine import load_average


@dataclass
class Target:
    """A goal from the brief, the value measured against it, and why it was met or missed."""

    goal: str
    measured: str
    met: bool | None  # None: not measured in this run
    why: str = ""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Section:
    title: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    load_before: str = field(default_factory=load_average)
    load_after: str = ""
    seconds: float = 0.0


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)])


def _verdict(target: Target) -> str:
    return {True: "met", False: "**missed**", None: "not run"}[target.met]


def render(machine: list[tuple[str, str]], command: str, sections: list[Section]) -> str:
    out = [
        "# Benchmark results",
        "",
        f"Written by `{command}` (do not edit by hand; run it again). Load average is "
        "1/5/15-minute `os.getloadavg()`: on this 2-core machine anything above ~2 means other "
        "jobs were competing for the CPU while these numbers were taken.",
        "",
        "## Machine",
        "",
        markdown_table(["", ""], [list(row) for row in machine]),
        "",
    ]
    targets = [t for s in sections for t in s.targets]
    if targets:
        out += [
            "## Targets",
            "",
            markdown_table(
                ["target", "measured", "verdict", "why"], [[t.goal, t.measured, _verdict(t), t.why] for t in targets]
            ),
            "",
        ]
    for section in sections:
        out += [
            f"## {section.title}",
            "",
            f"Load average before / after: {section.load_before} → {section.load_after}; "
            f"section took {section.seconds:.0f} s.",
            "",
        ]
        for table in section.tables:
            if table.caption:
                out += [table.caption, ""]
            out += [markdown_table(table.headers, table.rows), ""]
        out += [f"- {note}" for note in section.notes]
        if section.notes:
            out.append("")
    return "\n".join(out)


def write(path: Path, machine: list[tuple[str, str]], command: str, sections: list[Section]) -> None:
    path.write_text(render(machine, command, sections), encoding="utf-8")
