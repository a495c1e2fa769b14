"""Rebuild tables that a Word/HTML export flattened into one cell per line.

In 002 every cell is a line starting with a tab, rows are separated by blank lines, a cell may
wrap onto a following line without a tab (`\\t产业` + `总量`), and a group cell spanning several
rows is left empty (`\\t`) after its first row. Each row comes back as one line
`产业总量 | 1 | 全区规模以上先进制造业总产值 | 亿元 | 2024年目标 650 | 2025年目标 680`, the
header as `类型 | 序号 | …`, so a question about one indicator finds its row with the column names.
"""

from __future__ import annotations

import re

from qa_types import TABLE_CELL_SEPARATOR as CELL_SEPARATOR

_HEADER_WITH_VALUE = re.compile(r"\d")  # year/target columns: repeat the header before the value


def _parse_block(lines: list[str], start: int) -> tuple[list[list[str]], int]:
    """Parse cells from lines[start] (a tab line) on; returns (rows, index after the table)."""
    rows: list[list[str]] = []
    row: list[str] = []
    ncols = 0
    i = start
    while i < len(lines):
        line = lines[i]
        if line.startswith("\t"):
            if ncols and len(row) == ncols:  # a full row with no blank line after it
                rows.append(row)
                row = []
            row.append(line[1:].strip())
        elif not line.strip():
            if row:
                rows.append(row)
                ncols = ncols or len(row)
                row = []
            if i + 1 < len(lines) and not lines[i + 1].startswith("\t"):
                i += 1
                break
        elif row and (not ncols or len(row) < ncols):
            row[-1] += line.strip()  # the cell wrapped onto the next line
        else:
            break  # a full row followed by ordinary text: the table is over
        i += 1
    if row:
        rows.append(row)
    return rows, i


def _format_rows(rows: list[list[str]]) -> list[str]:
    header, body = rows[0], rows[1:]
    out = [CELL_SEPARATOR.join(header)]
    group = ""
    for cells in body:
        cells = cells + [""] * (len(header) - len(cells))
        if cells[0]:
            group = cells[0]
        else:
            cells[0] = group  # the group cell spans rows: repeat it so each row stands alone
        shown = [f"{h} {c}" if _HEADER_WITH_VALUE.search(h) and c else c for h, c in zip(header, cells)]
        out.append(CELL_SEPARATOR.join(shown))
    return out


def rebuild_flattened_tables(text: str) -> tuple[str, int]:
    """Every run of tab-led cell lines (2+ columns, 2+ rows) becomes header + one line per row."""
    lines = text.split("\n")
    out: list[str] = []
    tables = 0
    i = 0
    while i < len(lines):
        if lines[i].startswith("\t") and lines[i].strip():
            rows, end = _parse_block(lines, i)
            if len(rows) >= 2 and len(rows[0]) >= 2:
                out.extend(_format_rows(rows))
                tables += 1
                i = end
                continue
        out.append(lines[i])
        i += 1
    return "\n".join(out), tables


def is_table_line(line: str) -> bool:
    return line.count(CELL_SEPARATOR) >= 2
