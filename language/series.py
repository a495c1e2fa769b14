"""Which member of a series a text names: a project's 二期, a list's 第一批, the year 2023, and who
holds an office (局长, not 副局长).

Facts of Chinese, not of any document: a numeral before 期 / 批 / 届 / 号线 numbers one member of a
series (a project's phases, a list's batches), with 首 for the first; a year is four digits before
年; a title of office ends the noun phrase that names its holder, and 副 before it names a
different office (the deputy). A sentence that names other members of the asked series but never
the asked one (一期 for 二期, 2024年 for 2023年, 四批 in all for 第一批) states the neighbouring
fact, not the asked one; so does a sentence that names only the deputy, or no holder of the office.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMERAL = r"\d{1,2}|[一二两三四五六七八九十]{1,3}|首"

# A member of a series: [第]N期 (a project's phase), [第]N批 (a batch), 第N届 / 第N轮 / 第N阶段,
# N号线 (a metro line), [第]N季度. 期 is not a member in 期间 / 期限 / 期待 / 期望 / 期末 …, nor
# after 每 / 这 / 本 / 同 (每一期, 同期); 第 is required where a bare numeral counts instead
# (三届 = three terms, 两轮 = two rounds).
_MEMBER = re.compile(
    r"(?<![每这那本同上下近长短预\d])(第)?(" + _NUMERAL + r")\s*(期(?![间限待望末初中货刊])|批|届|轮|阶段|号线|季度)"
)
_NEEDS_ORDINAL = ("届", "轮", "阶段")

# A year: 19xx/20xx before 年, alone or in a range (2023—2025年, 2023年至2025年); "in 2020" in
# English. A year after 比 / 较 / 相比 / 与 or before 以来 / 同期 is a comparison's base, not the
# year the sentence reports on (`比2021年增长20%`).
_YEAR = r"(?:19|20)\d\d"
_YEAR_RANGE = re.compile(r"(?<!\d)(" + _YEAR + r")\s*年?\s*[-—–~至到]\s*(" + _YEAR + r")(?!\d)")
_YEAR_BEFORE_NIAN = re.compile(r"(?<!\d)(" + _YEAR + r")(?=\s*年)")
_YEAR_ENGLISH = re.compile(r"\b(" + _YEAR + r")\b")
_BASE_BEFORE = re.compile(r"(?:比|较|相比|与|同|对比)\s*$")
_BASE_AFTER = re.compile(r"^\s*年?\s*(?:以来|同期|水平|相比|相较)")

# Titles of office, the closed set that names who holds a post; the question asks its holder with
# 是谁 / 叫什么 / 是哪位 / 姓什么 / 的名字是什么.
_TITLES = (
    "董事长|总经理|总裁|总监|经理|董事|书记|主任|主席|秘书长|会长|社长|行长|院长|校长|部长|局长|厅长|"
    "处长|科长|所长|厂长|镇长|区长|市长|县长|省长|村长|队长|主编"
)
_ASKED_HOLDER = re.compile(
    r"(副?(?:" + _TITLES + r"))(?:的?(?:名字|姓名)是什么|是谁|叫什么|是哪位|姓什么|是什么人|为何人)"
)


# The same in English questions over Chinese documents: who holds an office (its Chinese titles, a
# deputy's with 副), and which phase or batch is asked (phase II, the second phase, the first batch).
_ENGLISH_OFFICES = {
    "director": "局长|主任|总监",
    "chairman": "董事长|主席",
    "chairwoman": "董事长|主席",
    "general manager": "总经理",
    "president": "总裁|总经理|院长|校长|主席",
    "mayor": "市长|镇长|区长|县长",
    "party secretary": "书记",
    "secretary": "书记|秘书长",
    "head": "局长|主任|处长|科长|所长|院长|校长|镇长|区长|市长|县长",
}
_ASKED_HOLDER_ENGLISH = re.compile(
    r"\bwho (?:is|was|are|were) (?:the |its )?(deputy |vice )?("
    + "|".join(sorted(_ENGLISH_OFFICES, key=len, reverse=True))
    + r")\b",
    re.I,
)
_ENGLISH_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5}
_ENGLISH_SERIES = {"phase": "期", "batch": "批"}
_ENGLISH_MEMBER = re.compile(
    r"\b(?:(first|second|third|fourth|fifth) (phase|batch)|(phase|batch) (\d|i{1,3}|iv|v)\b)", re.I
)


def _value(numeral: str) -> int | None:
    if numeral == "首":
        return 1
    if numeral.isdigit():
        return int(numeral)
    if "十" in numeral:
        tens, _, ones = numeral.partition("十")
        if len(ones) > 1 or (tens and tens not in _DIGITS) or (ones and ones not in _DIGITS):
            return None
        return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)
    return _DIGITS[numeral] if len(numeral) == 1 else None


def series_members(text: str, *, question: bool = False) -> dict[str, set[int]]:
    """Series word -> the members `text` names: {'期': {1, 2}, '年': {2023}}; a comparison's base
    year is not one (in `比2021年增长了多少` the question is about another year). `question`: read
    English ordinals and bare years too."""
    members: dict[str, set[int]] = {}
    for match in _MEMBER.finditer(text):
        ordinal, numeral, word = match.groups()
        if word in _NEEDS_ORDINAL and not ordinal and numeral != "首":
            continue
        value = _value(numeral)
        if value is not None:
            members.setdefault(word, set()).add(value)
    years: set[int] = set()
    for match in _YEAR_RANGE.finditer(text):
        first, last = int(match.group(1)), int(match.group(2))
        if first <= last <= first + 20:
            years.update(range(first, last + 1))
    for match in _YEAR_BEFORE_NIAN.finditer(text):
        if not (_BASE_BEFORE.search(text[: match.start()]) or _BASE_AFTER.match(text[match.end() : match.end() + 6])):
            years.add(int(match.group(1)))
    if question:
        years.update(int(y) for y in _YEAR_ENGLISH.findall(text))
        for match in _ENGLISH_MEMBER.finditer(text.lower()):
            ordinal, word, word_after, number = match.groups()
            value = _ENGLISH_ORDINALS[ordinal] if ordinal else (int(number) if number.isdigit() else _ROMAN[number])
            members.setdefault(_ENGLISH_SERIES[word or word_after], set()).add(value)
    if years:
        members["年"] = years
    return members


def names_other_members(question: str, sentences: list[str]) -> bool:
    """The sentences name members of a series the question asks one member of, and never the
    asked one (一期 for a question on 二期, 2024年 and 2025年 for one on 2023年)."""
    asked = series_members(question, question=True)
    if not asked:
        return False
    stated: dict[str, set[int]] = {}
    for sentence in sentences:
        for word, values in series_members(sentence).items():
            stated.setdefault(word, set()).update(values)
    return any(word in stated and not (values & stated[word]) for word, values in asked.items())


@lru_cache(maxsize=1024)
def years_named(document_text: str) -> frozenset[int]:
    """Every year a document writes, a comparison's base year included (NFKC: ２０２２年 too)."""
    text = unicodedata.normalize("NFKC", document_text)
    years = {int(y) for y in _YEAR_BEFORE_NIAN.findall(text)} | {int(y) for y in _YEAR_ENGLISH.findall(text)}
    for first, last in _YEAR_RANGE.findall(text):
        if int(first) <= int(last) <= int(first) + 20:
            years.update(range(int(first), int(last) + 1))
    return frozenset(years)


def asks_year_not_given(question: str, document_texts: list[str]) -> bool:
    """The question asks about a year that none of the documents ever writes: whatever figure they
    give, it is not that year's (a work summary of 2022 does not state 2020's output)."""
    asked = series_members(question, question=True).get("年")
    return bool(asked) and not any(asked & years_named(text) for text in document_texts)


def asked_office(question: str) -> str:
    """The title of office whose holder the question asks for ('' for none): 董事长 in
    `北京凌天智能装备集团的董事长叫什么？`, 副局长 in `…的副局长是谁`; its Chinese titles,
    '|'-separated, for an English question (`Who is the director of …` -> 局长|主任|总监)."""
    match = _ASKED_HOLDER.search(question)
    if match:
        return match.group(1)
    match = _ASKED_HOLDER_ENGLISH.search(question)
    if not match:
        return ""
    deputy, office = match.groups()
    titles = _ENGLISH_OFFICES[office.lower()].split("|")
    return "|".join(("副" + t) if deputy else t for t in titles)


def names_office(sentences: list[str], office: str) -> bool:
    """Some sentence writes the title `office` ('|'-separated alternatives) itself, not only its
    deputy (副局长 for 局长)."""
    for title in office.split("|"):
        deputy_allowed = title.startswith("副")
        for sentence in sentences:
            for match in re.finditer(re.escape(title), sentence):
                if deputy_allowed or not sentence[: match.start()].endswith("副"):
                    return True
    return False
