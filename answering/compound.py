"""Questions that ask two things, or compare what two documents say.

`SMC在总结中被称为什么规模的企业？它的天津工厂去年年产值是多少？` is answered as two questions
(the second made standalone like a follow-up: 它 -> SMC); `两篇报道对…的说法有何不同？` needs a
sentence from each document, not the two best sentences of one.
"""

from __future__ import annotations

import re

from answering.followup import rewrite_followup, subject_of
from language.normalize import search_form
from retrieval.lexical import tokenize

_ZH_ASKS = re.compile(r"什么|多少|多[大高长远重久宽深]|几|哪|何|谁|吗|如何|怎么|怎样|是否|呢")  # 多大 asks as 多少 does
_EN_SPLIT = re.compile(r"\?\s+|,?\s+and\s+(?=(?:how|what|when|which|who|where|why)\b)", re.I)
_ZH_SPLIT = re.compile(r"(?<=[？?；;])")
_COMPARISON = re.compile(
    r"两篇|两份|两个文件|两个文档|不同文件|各自|分别|各是|各为|有何不同|有什么不同|区别|差异|对比|比较|"
    r"\bboth\b|\bdiffer|\bcompare|\brespectively\b|\beach of\b",
    re.I,
)
# A topic written once before a colon, then asked about in several questions
# (`北京亦庄承接“三城”科技成果：2022年承接了多少项？累计承接了多少项？`), belongs to every part.
_TOPIC = re.compile(r"^([^？?；;：:]{2,40})[：:](?=.*[？?；;].*\S)")
# A Chinese clause opening with an adverb of time or sequence, or with its question word, has no
# subject of its own: it shares the first clause's (`华海清科项目…处于什么阶段？后来何时开工建设？`).
_ZERO_SUBJECT = re.compile(
    r"^(?:后来|随后|之后|此后|然后|最终|最后|目前|现在|当前|同时|并且|一共|总共|共计|累计|又|还|也|再|何时|什么时候|哪一?年|哪天|是否|能否|预计|计划)"
)
MIN_PART_CHARS = 4
MIN_OWN_TERMS = 3


def split_compound(question: str, lang: str) -> list[str]:
    """The sub-questions of a question asking two or more things; [question] otherwise. Later
    parts are made standalone against the first (`它的天津工厂…` -> `SMC的天津工厂…`)."""
    topic = _TOPIC.match(question) if lang != "en" else None
    body = question[topic.end() :] if topic else question
    pieces = _EN_SPLIT.split(body) if lang == "en" else _ZH_SPLIT.split(body)
    parts = [p.strip(" ，,") for p in pieces if len(p.strip(" ，,？?；;")) >= MIN_PART_CHARS]
    if lang != "en":
        parts = [p for p in parts if _ZH_ASKS.search(search_form(p))]  # 幾/幾個 ask as 几 does
    # A later part with next to no words of its own (`目前建成了几期？`) rides on the first part's
    # passage; answering it alone would fetch whatever else says 建成. Under a shared topic every
    # part is a whole question once the topic is put before it, so one word of its own is enough.
    first_terms = set(tokenize(search_form(parts[0]))) if parts else set()
    own_needed = 1 if topic else MIN_OWN_TERMS
    parts = parts[:1] + [p for p in parts[1:] if len(set(tokenize(search_form(p))) - first_terms) >= own_needed]
    if len(parts) < 2:
        return [question]
    if topic:
        return [topic.group(0) + p for p in parts]
    first = parts[0]
    return [first] + [_standalone(p, first) for p in parts[1:]]


def _standalone(part: str, first: str) -> str:
    """A later part made standalone against the first: as a follow-up (它 -> SMC), or, when it has
    no subject of its own, with the first part's subject put before it."""
    rewritten = rewrite_followup(part, [{"role": "user", "content": first}])
    if rewritten != part:
        return rewritten
    subject = subject_of(search_form(first))
    if subject and subject not in search_form(part) and _ZERO_SUBJECT.match(search_form(part)):
        return subject + part
    return part


def asks_to_compare(question: str) -> bool:
    return bool(_COMPARISON.search(question))
