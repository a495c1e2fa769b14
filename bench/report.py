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
    return "\n".join([_line(headers), _line(["---"] * len(headers)), *(_line(r) for r in rows)])


def _verdict(target: Target) -> str:
    return {True: "met", False: "**missed**", None: "not run"}[target.met]


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


PREAMBLE = (
    "Written by `{command}` (do not edit by hand; run it again). Load average is "
    "1/5/15-minute `os.getloadavg()`: on this 2-core machine anything above ~2 means other "
    "jobs were competing for the CPU while these numbers were taken."
)


def _targets_block(lines: list[str]) -> list[str]:
    header = ["target", "measured", "verdict", "why"]
    return ["## Targets", "", _line(header), _line(["---"] * len(header)), *lines, ""]


def _target_line(target: Target) -> str:
    return _line([target.goal, target.measured, _verdict(target), target.why])


def _section_block(section: Section, provenance: str = "") -> list[str]:
    out = [f"## {section.title}", ""]
    if provenance:
        out += [provenance, ""]
    out += [
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
    return out


def render(machine: list[tuple[str, str]], command: str, sections: list[Section]) -> str:
    out = [
        "# Benchmark results",
        "",
        PREAMBLE.format(command=command),
        "",
        "## Machine",
        "",
        markdown_table(["", ""], [list(row) for row in machine]),
        "",
    ]
    targets = [t for s in sections for t in s.targets]
    if targets:
        out += _targets_block([_target_line(t) for t in targets])
    for section in sections:
        out += _section_block(section)
    return "\n".join(out)


def split_blocks(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(what precedes the first `## ` heading, [(heading title, the block's text from its heading on)])."""
    parts = ("\n" + text).split("\n## ")
    blocks = []
    for part in parts[1:]:
        title = part.split("\n", 1)[0].strip()
        blocks.append((title, "## " + part.rstrip("\n") + "\n"))
    return parts[0].lstrip("\n"), blocks


def _table_rows(block: str) -> list[str]:
    """The body lines of the first markdown table in `block` (header and separator left out)."""
    lines = [line for line in block.splitlines() if line.startswith("|")]
    return lines[2:]


def merge(existing: str, machine: list[tuple[str, str]], command: str, sections: list[Section]) -> str:
    """`existing` RESULTS.md with `sections` measured again on their own: each replaces the block with
    its title (or is added at the end) and says which command measured it, when; a target replaces the
    row with the same goal. Everything else (the machine table of the full run included) stays."""
    preamble, blocks = split_blocks(existing)
    if not any(title == "Machine" for title, _ in blocks):
        return render(machine, command, sections)
    facts = dict(machine)
    provenance = (
        f"Measured on its own by `{command}` on {facts.get('date', '?')} (code {facts.get('code', '?')}; "
        f"load average at start {facts.get('load average (1/5/15 min) at start', '?')}); the machine table "
        "above is of the last full run, on the same machine."
    )
    new_blocks = {s.title: "\n".join(_section_block(s, provenance)) for s in sections}
    targets = [t for s in sections for t in s.targets]
    target_lines = {_line([t.goal])[:-2]: _target_line(t) for t in targets}  # "| goal" -> its new row
    kept_targets, placed = [], set()
    for title, block in blocks:
        if title == "Targets":
            for row in _table_rows(block):
                key = next((k for k in target_lines if row.startswith(k + " | ")), None)
                kept_targets.append(target_lines[key] if key else row)
                if key:
                    placed.add(key)
    kept_targets += [line for key, line in target_lines.items() if key not in placed]
    out, seen = [preamble.rstrip("\n"), ""], set()
    for title, block in blocks:
        if title == "Targets":
            continue
        out.append(new_blocks.get(title, block))
        seen.add(title)
        if title == "Machine" and kept_targets:
            out.append("\n".join(_targets_block(kept_targets)))
    out += [block for title, block in new_blocks.items() if title not in seen]
    return "\n".join(part.rstrip("\n") + "\n" for part in out if part).rstrip("\n") + "\n"


def write(
    path: Path, machine: list[tuple[str, str]], command: str, sections: list[Section], merge_into: bool = False
) -> None:
    """Write RESULTS.md; with `merge_into` and an existing file, only `sections` are replaced in it."""
    if merge_into and path.exists():
        text = merge(path.read_text(encoding="utf-8"), machine, command, sections)
    else:
        text = render(machine, command, sections)
    path.write_text(text, encoding="utf-8")
