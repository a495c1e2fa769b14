"""What kind of value a question asks for, and whether a sentence holds a value of that kind.

These are facts of Chinese and English, not of any document: a year is written as four digits
before 年 or after "in"; a percentage carries % or 百分之; an area is counted in 平方米, 公顷, 亩;
money in 元; a place name ends in an administrative or geographic suffix. The answer scorer turns
them into two features (the question asks a typed value; the sentence holds one of that type) and
learns how much they matter.
"""

from __future__ import annotations

import re

ANSWER_KINDS = ("year", "date", "percent", "area", "money", "count", "person", "place", "list")
# The interrogative decides first (谁 asks for a person even in 由谁共同投资); a how-much question
# is then refined by what it measures (a share, an area, money), else it asks for a count.
INTERROGATIVE_KINDS = ("year", "date", "person", "place", "list")
MEASURED_KINDS = ("percent", "area", "money")
# Kinds answered by a figure: a year, a share, an area, money, a count. Person, place, date and
# list answers are open text (a person named without a title, a time given by an era), so their
# absence from a sentence proves little; a figure's absence proves that the sentence cannot answer.
FIGURE_KINDS = ("year", "percent", "area", "money", "count")

_QUESTION_PATTERNS: dict[str, re.Pattern] = {
    # 哪一年 / 何年 / which year ask for a year; 什么时候 / when may be answered by a year or a day.
    "year": re.compile(r"哪一?年|何年|什么年份|年份是|\b(?:which|what) year\b|\bin what year\b", re.I),
    "date": re.compile(
        r"什么时候|何时|哪一?天|几月|几号|什么日期|日期|哪个月|\bwhen\b|\bwhat date\b|\bwhat day\b", re.I
    ),
    "percent": re.compile(
        r"百分之|百分比|比重|占比|比例|增长了?多少|增幅|增速|下降了?多少|提高了?多少|"
        r"\bpercent|\bshare\b|\bproportion\b|\bgrowth rate\b|\bby how much\b",
        re.I,
    ),
    "area": re.compile(r"面积|占地|多大|\barea\b|\bhow (?:large|big)\b|\bhectares?\b|\bsquare\b", re.I),
    "money": re.compile(
        r"投资|资金|金额|多少钱|收入|营收|产值|税收|预算|造价|成本|费用|补贴|元|"
        r"\binvest|\bbudget\b|\brevenue\b|\bincome\b|\bcost\b|\bfunding\b|\bmoney\b|\boutput value\b",
        re.I,
    ),
    "count": re.compile(r"多少|几[个家项栋座名万亿年次所处条位种批期]|\bhow many\b|\bnumber of\b", re.I),
    "person": re.compile(r"谁|哪位|什么人|何人|\bwho\b|\bwhom\b", re.I),
    "place": re.compile(r"哪里|哪儿|在哪|何处|什么地方|何地|哪个(?:省|市|县|区|镇|国家|城市)|\bwhere\b", re.I),
    "list": re.compile(
        r"哪些|有哪|包括哪|哪[两二三四五六七八九十几]|\bwhich\b.*\b(?:are|were)\b|\bwhat (?:are|were)\b|"
        r"\blist\b",
        re.I,
    ),
}

_NUMBER = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万亿]+)"
_VALUE_PATTERNS: dict[str, re.Pattern] = {
    # A year: four digits before 年 (2023年), or a bare 19xx/20xx; 年代 and 世纪 date an era.
    "year": re.compile(r"(?:1[0-9]|20)\d\d\s*年|\b(?:1[5-9]|20)\d\d\b|\d+\s*年代|[一二三四五六七八九十\d]+\s*世纪"),
    # A day or month (3月5日, 5月), or a year (a "when" question is answered by either).
    "date": re.compile(
        r"\d{1,2}\s*月|\d{1,2}\s*[日号]|[一二三四五六七八九十]+月|(?:1[0-9]|20)\d\d\s*年|"
        r"\b(?:1[5-9]|20)\d\d\b|年代|世纪|初期|末期|年间|期间|之后|之前|以后|以前|上旬|中旬|下旬|春|秋"
    ),
    "percent": re.compile(
        r"\d+(?:\.\d+)?\s*[%％]|百分之|个百分点|[一二三四五六七八九]成|\d+(?:\.\d+)?\s*倍|翻[一两番]"
    ),
    "area": re.compile(_NUMBER + r"\s*(?:万|千|百)?\s*(?:平方米|平方公里|平方千米|公顷|亩|㎡|m2|km2|平米)"),
    "money": re.compile(_NUMBER + r"\s*(?:万|千|百|亿)*\s*(?:元|美元|欧元|英镑|日元|港元|台币)"),
    # A count: a number followed by a measure word (个, 家, 项 …) or by 万/亿 (a quantity of something).
    "count": re.compile(
        _NUMBER + r"\s*(?:余|多)?\s*(?:万|亿)?\s*(?:[个家项栋座名位条种批期件台套辆人户所处次场部本只头匹株枚篇首届]|"
        r"万|亿)|\d{2,}"
    ),
    # A person: a reporter/official title next to a name, or a Chinese surname + 1-2 characters
    # marked by a role word; too open to detect exactly, so any role word counts as a hint.
    "person": re.compile(
        r"(?:先生|女士|教授|博士|主席|总统|总理|书记|主任|部长|局长|镇长|区长|市长|经理|董事长|"
        r"创始人|作者|导演|演员|歌手|记者|皇帝|国王|王后|将军|校长|院长|委员|代表|者)|"
        r"[\u4e00-\u9fff]{1,2}[·•][\u4e00-\u9fff]{1,6}|[A-Z][a-z]+ [A-Z][a-z]+"
    ),
    "place": re.compile(
        r"[\u4e00-\u9fff]{1,8}(?:省|市|县|区|镇|乡|村|街道|街|路|国|州|岛|山|河|湖|江|海|港|湾|"
        r"园区|开发区|新区|大陆|半岛|城|府|郡)|位于|坐落|地处|在[\u4e00-\u9fff]{2,8}"
    ),
    # A list: at least two items separated by the enumeration comma, or a numbered series.
    "list": re.compile(r"[^、，。]{1,20}、[^、，。]{1,20}|[①②③④⑤]|（[一二三四五]）"),
}


def asked_kind(question: str) -> str:
    """The kind of value the question asks for, or '' when it asks for none of these."""
    for kind in INTERROGATIVE_KINDS:
        if _QUESTION_PATTERNS[kind].search(question):
            return kind
    if _QUESTION_PATTERNS["count"].search(question) or _HOW_MUCH.search(question):
        return next((kind for kind in MEASURED_KINDS if _QUESTION_PATTERNS[kind].search(question)), "count")
    if _WHAT_IS.search(question):  # "What was the output value …" asks a figure without "how much"
        return next((kind for kind in MEASURED_KINDS if _QUESTION_PATTERNS[kind].search(question)), "")
    return ""


_HOW_MUCH = re.compile(
    r"多[大高长远重久宽深]|几成|\bhow (?:much|large|big|long|far|high)\b|\bwhat (?:percentage|share)\b", re.I
)


_WHAT_IS = re.compile(r"^\s*what\s+(?:is|was|are|were)\b", re.I)


def holds_kind(sentence: str, kind: str) -> bool:
    """The sentence holds a value of `kind` (a year for a year question, % for a percentage …)."""
    if not kind:
        return False
    return bool(_VALUE_PATTERNS[kind].search(sentence))


def states_unit(sentence: str, unit: str) -> bool:
    """The sentence writes a number followed by `unit` (20万辆, 55个, 3.5 亿元): a Chinese measure
    word or unit follows the number it counts, so 名 in 著名 or 个 in 每个 does not count."""
    bare = unit.lstrip("万亿千百") or unit
    pattern = _NUMBER + r"\s*(?:余|多)?\s*[万亿千百]*\s*(?:余|多)?\s*" + re.escape(bare)
    return bool(re.search(pattern, sentence))


# What a sentence may write for a figure, more loosely than the features' _VALUE_PATTERNS: the gate
# in answering.composer refuses only when no figure at all is there. Money is often written
# without 元 (产值30亿); a count may be any number with any unit (4分钟, 101发), a share of a whole
# (一半以上, 大多数), or the items themselves (A、B和C: count them).
_LOOSE_FIGURES: dict[str, re.Pattern] = {
    "money": re.compile(
        _NUMBER + r"\s*(?:余|多)?\s*(?:万|亿)(?:人民币|美元|欧元|(?!人|[个家项栋座名位条种批期件台套辆户所处次]))"
    ),
    "count": re.compile(
        r"\d|[零〇一二两三四五六七八九十百千]+\s*[\u4e00-\u9fff]|一半|半数|多数|大部分|少数|全部|"
        r"[^、，。]{1,20}、[^、，。]{1,20}"
    ),
    # A share may be a ratio (1：7, 3比2) or a fraction word.
    "percent": re.compile(r"一半|半数|[一二三四五六七八九十]成|\d+\s*[:：比]\s*\d+"),
    # 余/多 ("more than") may stand between the number and its unit: 2.4万余亩.
    "area": re.compile(_NUMBER + r"\s*[万千百]?\s*(?:余|多)\s*(?:平方米|平方公里|平方千米|公顷|亩|平米)"),
}
# 多大 asks a size, an age or any magnitude, not an area unless the question says so.
_AREA_WORDS = re.compile(r"面积|占地|\barea\b|\bhectares?\b|\bsquare\b", re.I)


# 哪天 / 几月几日 / 哪个月 / what date ask for a day or a month, which is written with 月, 日 or 号
# (6月28日, 3月8日) or as part of a month (上旬, 月底); a sentence naming neither cannot say when.
_ASKS_DAY = re.compile(
    r"哪一?天|几月几[日号]|几号|哪个月|什么日期|具体日期|\bwhat date\b|\bwhich day\b|\bon what day\b", re.I
)
_DAY = re.compile(
    r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})\s*[月日号]|[上中下]旬|月[初底末]|当[天日]|同[天日]|次日|翌日"
)


def states_asked_figure(sentences: list[str], question: str, kind: str, unit: str, counted: str = "") -> bool:
    """Whether the sentences (search forms) could answer a question asking for a figure of
    `kind` counted in `unit` ('' for none): one holds a figure of that kind, and one writes a
    number in that unit or lists the `counted` things (the question's measure, '|'-separated).
    For a question asking a day, one names a day or a month. True for a question that asks
    neither (FIGURE_KINDS)."""
    if kind == "date" and _ASKS_DAY.search(question):
        return any(_DAY.search(s) for s in sentences)
    if kind not in FIGURE_KINDS:
        return True
    if kind == "area" and not _AREA_WORDS.search(question):
        kind = "count"
    loose = _LOOSE_FIGURES.get(kind)
    if not any(holds_kind(s, kind) or (loose is not None and loose.search(s)) for s in sentences):
        return False
    # 个 is the general measure word: 几个孩子 is answered by 3名子女; 个百分点 is a unit of its own.
    if not unit or (unit == "个" and "个百分点" not in question):
        return True
    money = unit.endswith("元")
    return any(
        states_unit(s, unit) or (money and _LOOSE_FIGURES["money"].search(s)) or lists_counted(s, counted)
        for s in sentences
    )


# 几 joined to its measure word (几家, 几个, 几座) and the thing counted after it (几家骑士团).
_HOW_MANY_OF = re.compile(r"几\s*([个家项栋座名位条种批期件台套辆人户所处次])\s*([^的，,。？?、\s]{0,6})")


def counted_after_ji(question: str) -> tuple[str, str]:
    """(measure word, thing counted) of a 几-question: ('家', '骑士团') for 身兼几家骑士团的…;
    ('', '') when it has none."""
    match = _HOW_MANY_OF.search(question)
    return (match.group(1), match.group(2)) if match else ("", "")


# Units an English question counts in, as the documents write them after the number (32天, 2.4万亩).
_ENGLISH_UNITS = {
    "days": "天",
    "hectares": "公顷",
    "mu": "亩",
    "square meters": "平方米",
    "square metres": "平方米",
    "square kilometers": "平方公里",
    "square kilometres": "平方公里",
    "kilometers": "公里",
    "kilometres": "公里",
    "tons": "吨",
    "tonnes": "吨",
    "vehicles": "辆",
    "households": "户",
}


def english_unit(question: str) -> str:
    """The unit of an English how-many question, in Chinese ('天' for `How many days of …`); ''."""
    lowered = question.lower()
    return next((zh for en, zh in _ENGLISH_UNITS.items() if re.search(rf"\bhow many (?:\w+ )?{en}\b", lowered)), "")


def lists_counted(sentence: str, counted: str) -> bool:
    """The sentence names the counted things one by one (`甲骑士团、乙骑士团和丙骑士团` for 几家骑士团):
    a count may be answered by its items, with no number written."""
    return any(
        len(word) >= 2 and re.search(re.escape(word) + r"\s*[、和及与]", sentence) for word in counted.split("|")
    )


# Words that make a sentence a question, or glue it together, and say nothing about the content:
# they are left out when measuring how much of a question a passage contains.
QUESTION_WORDS = re.compile(
    r"什么|多少|哪些|哪个|哪里|哪儿|哪一|哪|谁|几|吗|呢|吧|如何|怎么|怎样|为何|为什么|何时|何地|"
    r"何种|是否|是不是|请问|[的了是在有与和及为被把将对于从向也都就并或而]"
)
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_ASCII_WORD = re.compile(r"[0-9a-z]+(?:\.[0-9]+)?")


def content_bigrams(search_form_text: str) -> set[str]:
    """Character bigrams of the Chinese runs (question words removed) and whole ASCII words and
    numbers: a segmentation-free fingerprint of what a question is about."""
    text = QUESTION_WORDS.sub(" ", search_form_text.lower())
    grams = {run[i : i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1)}
    grams |= {run for run in _CJK_RUN.findall(text) if len(run) == 1}
    return grams | set(_ASCII_WORD.findall(text))


def bigram_share(grams: set[str], text: str) -> float:
    """Share of `grams` found in `text` (a search form); 0 for no grams."""
    if not grams:
        return 0.0
    lowered = text.lower()
    return sum(g in lowered for g in grams) / len(grams)


# A year is four digits (1362年, 2013年, "in 2013"); a month or a day is one or two digits before 月/日.
_DATE_PART = re.compile(r"(?<!\d)(?:1[0-9]|20)\d\d(?!\d)|(?<!\d)\d{1,2}\s*[月日号]")


def date_parts(text: str) -> set[str]:
    """Years, months and days written in `text`, spaces removed: {'2013', '3月'}."""
    return {m.group().replace(" ", "").replace("号", "日") for m in _DATE_PART.finditer(text)}
