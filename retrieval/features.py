"""Query-side signals shared by the rerank stage and the answer composer: content terms with
their IDF weights, numbers, and what kind of answer the question asks for."""
from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.lexical import tokenize

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# A number followed by 年/月/日 (or inside a 1-11月 range) is a date, not a quantity.
_DATE_NUMBER = re.compile(r"\d+(?:\.\d+)?(?=\s*[年月日号])|(?<=[-~至])\d+(?=\s*月)")
_ASKS_QUANTITY = re.compile(r"多少|几[个家项栋座名万亿年次所处条]|多大|多高|多长|多远|多重|比重|占比|百分之|"
                            r"增长了?多|how (many|much|large|big|long|far|high)|what (percentage|share|proportion)|"
                            r"\bnumber of\b|\bhow many\b", re.I)
_ASKS_DATE = re.compile(r"何时|什么时候|哪一?年|哪天|几月|几号|日期|时间|when\b|what year|which year|what date", re.I)


@dataclass
class QueryTerms:
    tokens: list[str]  # distinct content tokens (simplified, lowercased)
    weights: dict[str, float]  # token -> IDF
    numbers: list[str]  # quantities written in the question (dates excluded)
    asks_quantity: bool
    asks_date: bool

    @property
    def total_weight(self) -> float:
        return sum(self.weights.values()) or 1.0


def quantities(text: str) -> list[str]:
    """Numbers in `text` that are not parts of dates."""
    dates = {m.span() for m in _DATE_NUMBER.finditer(text)}
    return [m.group() for m in _NUMBER.finditer(text) if m.span() not in dates]


def analyse_query(search_question: str, idf) -> QueryTerms:
    tokens = list(dict.fromkeys(tokenize(search_question)))
    weights = {t: idf(t) for t in tokens}
    return QueryTerms(tokens, weights, quantities(search_question),
                      bool(_ASKS_QUANTITY.search(search_question)), bool(_ASKS_DATE.search(search_question)))


def coverage(terms: QueryTerms, text_tokens: set[str]) -> float:
    """IDF-weighted share of the question's content terms present in a text (0..1)."""
    if not terms.weights:
        return 0.0
    return sum(w for t, w in terms.weights.items() if t in text_tokens) / terms.total_weight
