"""Query-side signals shared by the rerank stage and the answer composer: content terms with
their IDF weights, numbers, and what kind of answer the question asks for."""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.lexical import tokenize

_NUMBER = re.compile(r"\d+(?:\.\d+)?|[一二两三四五六七八九十百千]+(?=[个家项届次栋座名位条倍期批])")
# A year (2023年), month or day is a date, not a quantity; 1400年 (a duration) is a quantity.
_DATE_NUMBER = re.compile(r"(?:1[89]|20)\d\d(?=\s*年)|\d+(?=\s*[月日号])|(?<=[-~至])\d+(?=\s*月)")
_ASKS_QUANTITY = re.compile(
    r"多少|几[个家项栋座名万亿年次所处条]|多大|多高|多长|多远|多重|比重|占比|百分之|"
    r"增长了?多|how (many|much|large|big|long|far|high)|what (percentage|share|proportion)|"
    r"\bnumber of\b|\bhow many\b",
    re.I,
)
_ASKS_LIST = re.compile(
    r"哪些|有哪|包括哪|什么产业|\bwhich\b.*\b(are|were|industries|companies|projects)\b|\bwhat (are|were)\b", re.I
)
_ASKS_DATE = re.compile(r"何时|什么时候|哪一?年|哪天|几月|几号|日期|时间|when\b|what year|which year|what date", re.I)


@dataclass
class QueryTerms:
    tokens: list[str]  # distinct content tokens (simplified, lowercased)
    weights: dict[str, float]  # token -> IDF
    numbers: list[str]  # quantities written in the question (dates excluded)
    asks_quantity: bool
    asks_date: bool
    slot: QuantitySlot | None = None  # what a how-much question measures, see quantity_slot
    asks_list: bool = False  # 哪些 / 有哪些 / which … : the answer may be spread over sentences
    focus: str = ""  # the question's rarest term that the documents use: usually the name asked about
    unknown_share: float = 0.0  # IDF-weighted share of the terms no document contains (asked of elsewhere)

    @property
    def total_weight(self) -> float:
        return sum(self.weights.values()) or 1.0


_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")


def question_numbers(text: str) -> list[str]:
    """Quantities a question mentions, years left out: `in 2022` says when, not how much."""
    return [n for n in quantities(text) if not _YEAR.match(n)]


def quantities(text: str) -> list[str]:
    """Numbers in `text` that are not parts of dates."""
    dates = {m.span() for m in _DATE_NUMBER.finditer(text)}
    return [m.group() for m in _NUMBER.finditer(text) if m.span() not in dates]


FOCUS_MAX_SHARE = 0.03  # a focus term appears in at most this share of chunks (a name, not a topic)
FOCUS_MAX_CHUNKS = 6  # ... or in this many, for small collections


def analyse_query(search_question: str, idf, doc_freq, n_chunks: int, lang: str = "zh-Hans") -> QueryTerms:
    tokens = list(dict.fromkeys(tokenize(search_question)))
    weights = {t: idf(t) for t in tokens}
    if lang == "en":
        slot = english_quantity_slot(search_question)
    else:
        slot = quantity_slot(search_question)
        if slot is not None and slot.measure_in_corpus and not doc_freq(slot.measure):
            # Chinese compounds are head-final: 常住人口 is a kind of 人口, 营业收入 of 收入. A measure
            # the documents never use, not even its head, is the asker's paraphrase: not required.
            head = slot.measure[-2:]
            if len(slot.measure) >= 3 and doc_freq(head):
                slot.measure = head
            else:
                slot.measure_in_corpus = False
    unknown = sum(w for t, w in weights.items() if not doc_freq(t)) / (sum(weights.values()) or 1.0)
    return QueryTerms(
        tokens,
        weights,
        question_numbers(search_question),
        asks_quantity=bool(_ASKS_QUANTITY.search(search_question)),
        asks_date=bool(_ASKS_DATE.search(search_question)),
        slot=slot,
        focus=focus_term(tokens, weights, doc_freq, n_chunks),
        asks_list=bool(_ASKS_LIST.search(search_question)),
        unknown_share=unknown,
    )


def focus_term(tokens: list[str], weights: dict[str, float], doc_freq, n_chunks: int) -> str:
    """The name the question is about (华海清科 -> 华海, 小米, SMC): a term that is rare in
    everyday Chinese (jieba's dictionary) and in the documents, but present in them. Common words
    are never the focus, so a paraphrase (空气, 标志) is not held to the documents' wording."""
    import jieba

    common = jieba.dt.FREQ
    rare = [
        t
        for t in tokens
        if len(t) >= 2
        and not t.isdigit()
        and common.get(t, 0) < FOCUS_MAX_EVERYDAY_FREQ
        and 0 < doc_freq(t) <= max(FOCUS_MAX_CHUNKS, FOCUS_MAX_SHARE * n_chunks)
    ]
    return max(rare, key=lambda t: (weights[t], len(t)), default="")


def mentions_focus(sentence_form: str, previous_form: str, focus: str) -> bool:
    """The sentence names the focus, or refers back to it (`该项目…`, `其…`) right after it."""
    if not focus or focus in sentence_form:
        return True
    return bool(_ANAPHOR.match(sentence_form)) and focus in previous_form


_ANAPHOR = re.compile(r"^(它|其|该|此|这|这个|这家|项目|公司|企业|工厂|园区)")
FOCUS_MAX_EVERYDAY_FREQ = 500  # jieba dictionary count: 小米 396 is a name here, 空气 3732 is not


def coverage(terms: QueryTerms, text_tokens: set[str]) -> float:
    """IDF-weighted share of the question's content terms present in a text (0..1)."""
    if not terms.weights:
        return 0.0
    return sum(w for t, w in terms.weights.items() if t in text_tokens) / terms.total_weight


# --- the quantity a question asks for: its measure (总投资, 年产能) and unit (亿元, 万辆) ---------

_INTERROGATIVES = ("多少", "几")
_DEGREE = {"大", "高", "长", "远", "重", "久", "宽", "深"}  # 多大, 多高 …
_FILLERS = {
    "是",
    "有",
    "为",
    "的",
    "了",
    "将",
    "达到",
    "达",
    "实现",
    # Verbs of reaching an amount (完成112亿元, 突破3亿元, 超过20%) sit between a measure and its
    # figure in any report; they are never the thing measured.
    "完成",
    "突破",
    "超过",
    "共",
    "约",
    "大约",
    "一共",
    "总共",
    "预计",
    "能",
    "可",
    "会",
    "计划",
    "要",
    "需要",
    "累计",
    "共计",
    "合计",
    "到",
    "在",
    "分别",
    "各",
    "各是",
    "各自",
    "目前",
    "现在",
    "去年",
    "今年",
    "大概",
    "一",
    "又",
}
# A unit is a measure word (个, 家, 万辆, 亿元, 平方米 …), not any word after 多少 (多少急诊床位).
GENERIC_MEASURES = {
    "数量",
    "数目",
    "个数",
    "总数",
    "金额",
    "规模",
    "比例",
    "比重",
    "情况",
    "数字",
    "数据",
    "水平",
    "幅度",
    "程度",
    "多少",
    "结果",
    "成绩",
}
MEASURE_NUMBER_GAP = 16  # characters: the number must follow its measure closely (总投资近500亿元)
_UNIT = re.compile(
    r"^[万亿千百]?(?:[个家项栋座名元人辆片张支次所处条亩吨天倍户期批件台套]|亿元|万元|公顷|平方米|平方公里|公里|%)$"
)


@dataclass
class QuantitySlot:
    measure: str  # the thing measured, e.g. 投资, 产能, 面积 (alternatives separated by |)
    unit: str  # e.g. 亿元; "" when the question names none
    measure_in_corpus: bool = True  # a paraphrased measure the documents never use cannot be required


def quantity_slot(search_question: str) -> QuantitySlot | None:
    """What a Chinese how-much question measures: `…的总投资是多少？` -> (投资, ''),
    `有多少个协同项目…` -> (协同项目, 个). None unless it asks how much/many."""
    import jieba

    tokens = [t for t in jieba.lcut(search_question) if t.strip()]
    for i, tok in enumerate(tokens):
        asks = tok in _INTERROGATIVES or (tok == "多" and i + 1 < len(tokens) and tokens[i + 1] in _DEGREE)
        if not asks:
            continue
        after = tokens[i + 1 : i + 3] if tok != "多" else []
        unit = after[0] if after and _UNIT.match(after[0]) else ""
        counted = after[1] if unit and len(after) > 1 and _is_content(after[1]) else ""
        before = [t for t in tokens[:i] if _is_content(t)]
        measure = counted or (before[-1] if before else "")
        if not measure and not unit:
            return None
        # A one-character or generic measure (数量, 比例) is implied by the answer, not written in it.
        required = len(measure) >= 2 and measure not in GENERIC_MEASURES
        return QuantitySlot(measure, unit, required)
    return None


# English questions meet Chinese documents: the usual statistical measures (money, output, area,
# capacity, population, employment …), in the documents' terms. A measure found here is required (the glossary
# term is the standard one, not a paraphrase). What is counted (firms, projects, beds …) is left to
# the embedder: a glossary of every countable thing would never be complete.
ENGLISH_MEASURES = {
    "budget": "预算",
    "investment": "投资",
    "invested": "投资",
    "population": "人口",
    "residents": "人口|居民",
    "employees": "员工|职工|从业人员",
    "staff": "员工|职工",
    "workers": "员工|职工|工人",
    "revenue": "收入|营收|税收",
    "income": "收入",
    "tax": "税收|税",
    "gdp": "生产总值",
    "output": "产值|产量",
    "value added": "增加值",
    "area": "面积",
    "size": "面积|规模",
    "capacity": "产能",
    "production": "产量|产能|产值",
    "emission": "排放|减排",
    "funds": "资金",
    "funding": "资金",
    "subsidy": "补贴|补助",
    "salary": "薪|工资",
    "price": "价格|价",
    "cost": "成本|费用|造价",
    "jobs": "就业|岗位",
}
_ENGLISH_ASKS = re.compile(
    r"\bhow (many|much|large|big|long|far|high)\b|\bwhat (was|is|were|are) the\b.*"
    r"\b(budget|population|revenue|income|gdp|output|value|area|size|capacity|number|cost)\b",
    re.I,
)


def english_quantity_slot(question: str) -> QuantitySlot | None:
    lowered = question.lower()
    if not _ENGLISH_ASKS.search(lowered):
        return None
    found = [zh for en, zh in ENGLISH_MEASURES.items() if re.search(rf"\b{en}", lowered)]
    return QuantitySlot("|".join(found), "", True) if found else None


def _is_content(token: str) -> bool:
    return token not in _FILLERS and bool(re.search(r"[\u4e00-\u9fff]", token))


def fills_quantity_slot(sentence_search_text: str, slot: QuantitySlot) -> bool:
    """The sentence has a non-date number close to the measure when the measure is required
    (`SMC投资管理有限公司…年产值…10亿` states no investment), and names the asked unit if any
    (a table row names it in its unit column, not after the number)."""
    text = sentence_search_text
    if not quantities(text):
        return False
    if slot.measure_in_corpus:
        pattern = "|".join(re.escape(m) for m in slot.measure.split("|"))
        near = [
            text[max(0, m.start() - MEASURE_NUMBER_GAP) : m.end() + MEASURE_NUMBER_GAP]
            for m in re.finditer(pattern, text)
        ]
        if not any(quantities(window) for window in near):
            return False
    return not slot.unit or slot.unit.lstrip("万亿千百") in text or slot.unit in text
