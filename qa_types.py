"""Shared types spoken by every stage: ingest -> index -> retrieval -> answer -> app.

Imports nothing from the project. Offsets (`start`, `end`) are character offsets into the
cleaned text of a document (`Document.text`), so a citation can highlight the exact sentence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

TABLE_CELL_SEPARATOR = " | "  # between the cells of a rebuilt table row (a Chunk of kind "table_row")
# The longest question answered: the API refuses longer ones, and a follow-up whose standalone
# rewrite would be longer is answered as it was asked (answering/followup.py).
MAX_QUESTION_CHARS = 1000


@dataclass
class Document:
    """One cleaned source file. `doc_id` is the file name (the id used in citations and gold sets)."""

    doc_id: str
    title: str
    text: str  # cleaned display text, in the document's own script
    encoding: str = "utf-8"
    metadata: dict[str, str] = field(default_factory=dict)  # issuer, doc_number, date, source, author


@dataclass
class Chunk:
    """A citable piece of a document: display text plus a simplified, normalised search form."""

    id: str
    doc: str
    title: str
    section: str  # section path, e.g. "计划名 › 二、… › （一）…"
    text: str  # display text == Document.text[start:end]
    search_text: str  # NFKC + t2s + spacing fixes: what the lexical and dense indexes see
    start: int
    end: int
    kind: str = "text"  # "text" | "table_row"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class Passage:
    """A chunk with the score given by the stage that ranked it last."""

    chunk: Chunk
    score: float
    stage: str = ""  # "dense" | "lexical" | "fused" | "reranked"
    best_sentence: tuple[int, int] | None = None  # offsets of the sentence that matched best

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc": self.chunk.doc,
            "title": self.chunk.title,
            "section": self.chunk.section,
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(float(self.score), 4),
        }


@dataclass
class Citation:
    """`[n]` in an answer: the passage it comes from and the exact sentence cited inside it."""

    n: int
    doc: str
    title: str
    section: str
    text: str  # the whole passage, for the sources panel
    start: int  # offsets of the cited sentence in the cleaned document
    end: int
    quote: str  # the cited sentence itself
    passage_start: int = 0  # offsets of the passage, so a UI can highlight quote inside text
    passage_end: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    lang: str  # "zh-Hans" | "zh-Hant" | "en"
    citations: list[Citation] = field(default_factory=list)
    related: list[Passage] = field(default_factory=list)  # closest passages when abstaining
    retrieved: list[Passage] = field(default_factory=list)  # top 10 after the last stage
    standalone_question: str = ""  # the follow-up rewritten to stand alone, if it was rewritten
    notice: str = ""  # e.g. "LLM unavailable; extractive answer shown"
    support: float = 0.0  # how well the best cited sentence supports the question (abstention score)
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "lang": self.lang,
            "citations": [c.to_dict() for c in self.citations],
            "related": [p.to_dict() for p in self.related],
            "retrieved": [p.to_dict() for p in self.retrieved],
            "standalone_question": self.standalone_question,
            "notice": self.notice,
            "support": round(self.support, 4),
            "latency_ms": round(self.latency_ms, 1),
        }
