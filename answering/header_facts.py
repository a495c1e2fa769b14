"""Questions about a document's own header: its document number, issue date, issuing office,
author or source. Ingest parses these into `Document.metadata`; the answer cites the header line
where the value is written in the cleaned text, or is not given when the text does not hold it
(a value lifted out of the text, such as a news dateline, cannot be cited to an offset).

The question words are facts of how Chinese government documents and news items are described
(发文字号, 印发日期, 发文机关, 记者), and their usual English renderings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER_FIELDS = {  # metadata key -> how a question asks for it
    "doc_number": re.compile(r"发文字号|文号|發文字號|文號|\bdocument number\b|\breference number\b", re.I),
    "date": re.compile(
        r"(?:印发|发布|发文|成文|印發|發布|發文)(?:的)?(?:日期|时间|時間)|(?:哪天|哪一天|什么时候|何时|什麼時候|何時)(?:印发|发布|印發|發布)"
        r"|\bdate\b.*\bissued\b|\bissued\b.*\bdate\b|\bwhen was\b.*\bissued\b|\bon what date\b",
        re.I,
    ),
    "issuer": re.compile(
        r"(?:发文|印发|發文|印發)(?:机关|单位|部门|機關|單位|部門)|(?:哪个|哪個)(?:机构|机关|单位|部门|機構|機關|單位|部門)(?:印发|发布|发的|印發|發布)"
        r"|\bissued by\b|\bwhich (?:office|body|department|authority) issued\b",
        re.I,
    ),
    "author": re.compile(r"记者|作者|署名|記者|\breporter\b|\bauthor\b|\bwho wrote\b", re.I),
    "source": re.compile(r"(?:哪个|哪個)(?:单位|單位)发布|发布单位|發布單位|\bpublished by\b", re.I),
}


@dataclass(frozen=True)
class HeaderFact:
    field: str
    value: str
    start: int  # offsets of the header line holding the value, in the cleaned text
    end: int


def asked_fields(question: str) -> list[str]:
    """The header fields a question asks for, in HEADER_FIELDS order (often none)."""
    return [field for field, pattern in HEADER_FIELDS.items() if pattern.search(question)]


def find_header_facts(question: str, metadata: dict[str, str], text: str) -> list[HeaderFact]:
    """Each asked field whose value the document's metadata holds and its text writes out."""
    facts = []
    for field in asked_fields(question):
        value = (metadata or {}).get(field, "")
        at = text.find(value) if value else -1
        if at < 0:
            continue
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        facts.append(HeaderFact(field, value, start, len(text) if end < 0 else end))
    return facts
