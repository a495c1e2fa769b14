"""Document structure: title, metadata (issuer, document number, date, source, author), headings
and the section path of every paragraph or table row, all as offsets into the cleaned text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.table import is_table_line

SECTION_SEPARATOR = " › "

_CHINESE_NUMERAL = "一二三四五六七八九十"
HEADING_PATTERNS = [  # (level, pattern): numbered headings of Chinese government documents
    (1, re.compile(rf"^[{_CHINESE_NUMERAL}]+、")),
    (2, re.compile(rf"^[（(][{_CHINESE_NUMERAL}]+[）)]")),
    (3, re.compile(r"^\d{1,2}[.．、](?!\d)")),
]
_SENTENCE_END = re.compile(r"[。！？!?；;]")
_DOC_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,8}[〔\[［(（]\d{4}[〕\]］)）]\d{1,4}号")
_DATE_LINE = re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日$")
_ISSUER_LINE = re.compile(r"^(.{2,30}?(人民政府|办公室|辦公室|委员会|委員會|管委会|管委會|局|厅|廳))(文件)?$")
_PUBLISHED_BY = re.compile(r"^[(（](?!此件)([^()（）]{2,30}?)(发布|發布)[)）]")
_BYLINE = re.compile(r"[(（]([\u4e00-\u9fff]{2,4})[)）]\s*$")
# `人民網北京2月25日電 (記者孟竹)`: source, place, date and reporter of a news wire.
DATELINE = re.compile(
    r"^(?P<source>[\u4e00-\u9fff]{2,8}?[网網])(?P<place>[\u4e00-\u9fff]{2,4}?)"
    r"(?P<date>\d{1,2}月\d{1,2}日)[电電]\s*[(（](?:记者|記者)(?P<author>[\u4e00-\u9fff、]{2,12})[)）]"
)
_ENCLOSED_TITLE = re.compile(r"现将《([^》]{4,60})》|現將《([^》]{4,60})》")


@dataclass
class Block:
    """A paragraph, heading or table row: offsets into the cleaned text and its section path."""

    start: int
    end: int
    kind: str  # "paragraph" | "heading" | "table_header" | "table_row"
    section: str
    heading_level: int = 0


def heading_level(line: str, in_table: bool = False) -> int:
    """1-3 for numbered headings, 4 for a short standalone line (`产业集聚新发展`), else 0."""
    if in_table or is_table_line(line):
        return 0
    for level, pattern in HEADING_PATTERNS:
        if pattern.match(line):
            return level
    if len(line) <= 30 and not re.search(r"[，,。；;：:!?！？]", line) and not _is_metadata_line(line):
        return 4
    return 0


def _is_metadata_line(line: str) -> bool:
    return bool(
        re.fullmatch(r"[(（][^()（）]*[)）]", line)
        or _BYLINE.search(line)
        or _PUBLISHED_BY.match(line)
        or _DATE_LINE.match(line)
        or _ISSUER_LINE.match(line)
        or _DOC_NUMBER.search(line)
    )


def extract_dateline(text: str) -> tuple[str, dict[str, str]]:
    """Lift a news dateline off the start of its paragraph into metadata."""
    for match in re.finditer(r"(?m)^.+$", text):
        found = DATELINE.match(match.group())
        if found:
            meta = {k: v for k, v in found.groupdict().items() if v}
            cut = match.start() + found.end()
            return text[: match.start()] + text[cut:].lstrip(" "), meta
    return text, {}


def extract_metadata(text: str) -> dict[str, str]:
    """Issuer, document number, date, source and author where the text states them."""
    meta: dict[str, str] = {}
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    head = lines[:15]
    if number := _DOC_NUMBER.search("\n".join(head)):
        meta["doc_number"] = number.group()
    for line in head:
        if (issuer := _ISSUER_LINE.match(line)) and "issuer" not in meta:
            meta["issuer"] = issuer.group(1)
        if _DATE_LINE.match(line) and "date" not in meta:
            meta["date"] = line
    for line in lines:
        if published := _PUBLISHED_BY.match(line):
            meta.setdefault("source", published.group(1))
        if len(line) <= 40 and (byline := _BYLINE.search(line)):
            meta.setdefault("author", byline.group(1))
    return meta


def find_title(text: str, fallback: str) -> str:
    """A notice that issues a plan (`现将《X》印发`) is titled by the plan; otherwise the first
    short standalone line without sentence punctuation is the headline."""
    if enclosed := _ENCLOSED_TITLE.search(text):
        return enclosed.group(1) or enclosed.group(2)
    for line in text.split("\n"):
        line = line.strip()
        if (
            4 <= len(line) <= 40
            and not _SENTENCE_END.search(line)
            and not re.search(r"[，,]", line)
            and not _ISSUER_LINE.match(line)
            and not _DOC_NUMBER.search(line)
            and heading_level(line) in (0, 4)
        ):
            return line
    return fallback


def split_blocks(text: str, title: str) -> list[Block]:
    """One block per non-empty line, with the section path of the headings above it.

    Consecutive short standalone lines form one heading (004's two-line subtitles)."""
    blocks: list[Block] = []
    path: dict[int, str] = {}  # level -> heading text
    previous_was_short_heading = False
    in_table = False
    for match in re.finditer(r"[^\n]+", text):
        line = match.group()
        if not line.strip():
            continue
        if is_table_line(line):
            kind = "table_header" if not in_table else "table_row"
            in_table = True
            blocks.append(Block(match.start(), match.end(), kind, _path(title, path)))
            previous_was_short_heading = False
            continue
        in_table = False
        level = heading_level(line)
        if line.strip() == title:
            previous_was_short_heading = False
            path.clear()  # front matter (a notice's preamble) ends where the title starts the body
            continue
        if level:
            if level == 4 and previous_was_short_heading and 4 in path:
                path[4] = path[4] + " " + line.strip()
            else:
                for deeper in [lv for lv in path if lv >= level]:
                    del path[deeper]
                path[level] = _heading_text(line)
            previous_was_short_heading = level == 4
            blocks.append(Block(match.start(), match.end(), "heading", _path(title, path), level))
            if level == 3 and len(line) > len(path[3]) + 2:  # `1.优先支持企业扩产上新。聚焦…`
                blocks[-1].kind = "paragraph"
            continue
        previous_was_short_heading = False
        blocks.append(Block(match.start(), match.end(), "paragraph", _path(title, path)))
    return blocks


def _heading_text(line: str) -> str:
    """A numbered item whose heading runs into its body keeps only the heading sentence."""
    first = _SENTENCE_END.split(line, maxsplit=1)[0]
    return first.strip() if first else line.strip()


def _path(title: str, path: dict[int, str]) -> str:
    return SECTION_SEPARATOR.join([title] + [path[level] for level in sorted(path)])
