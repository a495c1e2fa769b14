"""Cleaning rules: each a named function `rule(text) -> (text, times_fired)` with a test on a real
snippet from the seeds. `clean_text` runs them in order and reports which fired.

Rules change the display text (what users see and citations point into); folding for search
(width, script, spacing) happens separately in `language.normalize.search_form`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from ingest.mojibake import repair_gbk_mojibake
from ingest.table import rebuild_flattened_tables

Rule = Callable[[str], tuple[str, int]]

_CJK = "\u3400-\u9fff\uf900-\ufaff"
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"


def normalize_line_endings(text: str) -> tuple[str, int]:
    """CRLF/CR -> LF, drop stray BOMs and zero-width characters, NBSP -> space."""
    fixed = text.replace("\r\n", "\n").replace("\r", "\n")
    fixed, n = re.subn("[\ufeff\u200b\u200c\u200d\u2060]", "", fixed)
    fixed = fixed.replace("\u00a0", " ")
    return fixed, n + (fixed != text and n == 0)


_BOOKMARK = re.compile(r"\[bookmark:[^\]\n]*\]")


def strip_bookmark_markup(text: str) -> tuple[str, int]:
    """`[bookmark: _Toc7207]三、打造…` -> `三、打造…` (Word export anchors, 002)."""
    return _BOOKMARK.subn("", text)


_PINYIN = re.compile(rf"(?<=[{_CJK}?])\((?=[a-zü{_TONED}]*[{_TONED}])[a-zü{_TONED}]{{1,8}}\)")


def strip_pinyin_annotations(text: str) -> tuple[str, int]:
    """`協(xié)同發(fā)展` -> `協同發展` (004). Needs a tone mark inside, so `(天津)`, `(記者孟竹)`
    and English in parentheses stay."""
    return _PINYIN.subn("", text)


def repair_mojibake(text: str) -> tuple[str, int]:
    """GBK mojibake with lost bytes (`?!叭缃馭MC` -> `。“如今SMC`); unrepairable runs are dropped."""
    fixed, repaired, dropped = repair_gbk_mojibake(text)
    return fixed, repaired + dropped


_COPYRIGHT = re.compile(r"^[ \t]*(版權聲明|版权声明|免責聲明|免责声明|Copyright|©)[^\n]*\n?", re.M | re.I)


def drop_copyright_notice(text: str) -> tuple[str, int]:
    """`版權聲明:凡注明“來源:中國西藏網”…` (004's site footer) is not part of the document."""
    return _COPYRIGHT.subn("", text)


_TRAILING_LIST = re.compile(r"(?:\n[ \t]*[-•·][ \t]+[^\n]*){3,}\s*\Z")


def drop_trailing_headline_list(text: str) -> tuple[str, int]:
    """A run of 3+ `- headline` lines closing the file is a site's "more news" block (004)."""
    fixed, n = _TRAILING_LIST.subn("\n", text)
    return fixed, n


def trim_line_whitespace(text: str) -> tuple[str, int]:
    """Leading/trailing spaces on a line are layout (002's ` 充分发挥…`); tabs inside tables stay
    until the table rule has read them, so this runs after it."""
    lines = text.split("\n")
    trimmed = [line.strip(" \t\u3000") for line in lines]
    return "\n".join(trimmed), sum(a != b for a, b in zip(lines, trimmed))


_TERMINAL = "。！？!?；;…：:”」』）)\"'"
_NUMBERED_HEADING = re.compile(
    r"^([一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|\(\s*[一二三四五六七八九十]+\s*\)|\d+[.．、])"
)


def _is_heading_like(line: str) -> bool:
    return (len(line) <= 25 and not re.search("[，,。；]", line)) or bool(_NUMBERED_HEADING.match(line))


def join_broken_paragraphs(text: str) -> tuple[str, int]:
    """`镇域企\\n\\n业的基因` -> `镇域企业的基因`: a paragraph that stops mid-sentence continues
    after the blank line. Headings (short, no commas) and numbered items are never joined."""
    paragraphs = text.split("\n\n")
    out: list[str] = []
    joined = 0
    for para in paragraphs:
        if out and para.strip():
            prev = out[-1]
            last_line = prev.rsplit("\n", 1)[-1]
            first_line = para.lstrip("\n").split("\n", 1)[0]
            if (
                last_line
                and last_line[-1] not in _TERMINAL
                and not _is_heading_like(last_line)
                and first_line
                and not _NUMBERED_HEADING.match(first_line)
                and not first_line.startswith(("-", "\t"))
            ):
                out[-1] = prev + para.lstrip("\n")
                joined += 1
                continue
        out.append(para)
    return "\n\n".join(out), joined


def collapse_blank_lines(text: str) -> tuple[str, int]:
    """Three or more newlines -> one blank line; the file's leading/trailing blanks go."""
    fixed, n = re.subn(r"\n{3,}", "\n\n", text)
    return fixed.strip("\n") + "\n", n


# Order matters: markup and encoding damage first, then boilerplate, then layout.
RULES: list[Rule] = [
    normalize_line_endings,
    strip_bookmark_markup,
    repair_mojibake,
    strip_pinyin_annotations,
    drop_copyright_notice,
    drop_trailing_headline_list,
    rebuild_flattened_tables,
    trim_line_whitespace,
    collapse_blank_lines,
    join_broken_paragraphs,
]


def clean_text(text: str) -> tuple[str, Counter]:
    """Run every rule; returns the cleaned text and how often each rule fired."""
    fired: Counter = Counter()
    for rule in RULES:
        text, n = rule(text)
        if n:
            fired[rule.__name__] += n
    return text, fired
