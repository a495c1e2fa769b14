"""What /api accepts and returns, and the limits that keep one request cheap.

Every limit fails with a message that names the field and the limit; server/errors.py turns those
into a short JSON error. The chat page applies the same question rules through `clean_question`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from qa_types import MAX_QUESTION_CHARS, Answer

MAX_HISTORY_TURNS = 20  # messages in `history`, user and assistant alike
MAX_TURN_CHARS = 4000  # an earlier answer can be long, but history must not smuggle in a document
# An earlier user turn is an earlier question: MAX_QUESTION_CHARS, as for the question itself.
MAX_HISTORY_CHARS = 20000  # all of `history` together
MAX_ANSWER_CHARS = 20000  # feedback echoes an answer back
MAX_FEEDBACK_CITATIONS = 20
# Feedback echoes each citation back; a passage is at most a few hundred characters (ingest cuts
# 150-350), so these leave room for any corpus without letting a row grow without bound.
MAX_CITATION_TEXT_CHARS = 4000  # `text` (the passage) and `quote`
MAX_CITATION_LABEL_CHARS = 1000  # `doc`, `title`, `section`, `date`


def clean_question(text: str) -> str:
    """The question without surrounding whitespace. If unusable, ValueError says why, written to
    follow the field name ("question: must not be empty or only spaces")."""
    question = text.strip()
    if not question:
        raise ValueError("must not be empty or only spaces")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"has {len(question)} characters; the limit is {MAX_QUESTION_CHARS}")
    check_text(question)
    return question


def check_text(text: str) -> str:
    if any("\ud800" <= ch <= "\udfff" for ch in text):  # JSON allows "\ud800"; no encoder does
        raise ValueError("contains an unpaired surrogate (\\ud800-\\udfff), which is not valid text")
    return text


def turn_limit(role: str) -> int:
    """The longest earlier message of `role`: a user turn is an earlier question."""
    return MAX_QUESTION_CHARS if role == "user" else MAX_TURN_CHARS


class Turn(BaseModel):
    """One earlier message of the conversation, so a follow-up question can be understood."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(
        max_length=MAX_TURN_CHARS,
        description=f"at most {MAX_QUESTION_CHARS} characters for a user turn, {MAX_TURN_CHARS} for an assistant turn",
    )

    @field_validator("content")
    @classmethod
    def _content_usable(cls, value: str, info: ValidationInfo) -> str:
        role = info.data.get("role", "assistant")  # absent if the role itself was invalid
        if len(value) > turn_limit(role):
            raise ValueError(f"has {len(value)} characters; the limit for a {role} turn is {turn_limit(role)}")
        return check_text(value)


def fit_history(history: list[dict[str, str]]) -> list[dict[str, str]]:
    """`history` cut to what AskRequest accepts, for history the server keeps itself (the chat page):
    the newest turns that fit, each cut to its limit."""
    fitted: list[dict[str, str]] = []
    total = 0
    for turn in reversed(history[-MAX_HISTORY_TURNS:]):
        content = turn["content"][: turn_limit(turn["role"])]
        if total + len(content) > MAX_HISTORY_CHARS:
            break
        total += len(content)
        fitted.append({"role": turn["role"], "content": content})
    return fitted[::-1]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(
        description=f"1 to {MAX_QUESTION_CHARS} characters", examples=["小米汽车一期占地面积有多大？"]
    )
    history: list[Turn] | None = Field(
        default=None,
        description=f"earlier messages, at most {MAX_HISTORY_TURNS} of at most {MAX_HISTORY_CHARS} characters in all",
    )

    @field_validator("question")
    @classmethod
    def _question_usable(cls, value: str) -> str:
        return clean_question(value)

    @field_validator("history", mode="before")
    @classmethod
    def _not_too_many_turns(cls, value: object) -> object:
        # Before the turns are validated one by one: 100,000 turns are refused without looking at them.
        if isinstance(value, list) and len(value) > MAX_HISTORY_TURNS:
            raise ValueError(f"has {len(value)} turns; the limit is {MAX_HISTORY_TURNS}")
        return value

    @field_validator("history")
    @classmethod
    def _history_short_enough(cls, value: list[Turn] | None) -> list[Turn] | None:
        total = sum(len(turn.content) for turn in value or [])
        if total > MAX_HISTORY_CHARS:
            raise ValueError(f"has {total} characters in all; the limit is {MAX_HISTORY_CHARS}")
        return value

    def history_dicts(self) -> list[dict[str, str]]:
        return [turn.model_dump() for turn in self.history or []]


class CitationOut(BaseModel):
    n: int
    doc: str
    title: str
    section: str
    text: str = Field(description="the whole passage")
    start: int = Field(description="offset of the cited sentence in the cleaned document")
    end: int
    quote: str = Field(description="the cited sentence")
    passage_start: int = Field(
        0,
        description="offset of the passage in the document: "
        "text[start - passage_start : end - passage_start] is the quote",
    )
    passage_end: int = 0
    date: str = Field("", description="the document's issue date as written in it; empty if it states none")


class PassageOut(BaseModel):
    doc: str
    title: str
    section: str
    text: str
    start: int
    end: int
    score: float
    date: str = Field("", description="the document's issue date as written in it; empty if it states none")


class AskResponse(BaseModel):
    answer: str = Field(description="answer text with [n] markers")
    abstained: bool
    lang: Literal["zh-Hans", "zh-Hant", "en"]
    citations: list[CitationOut]
    related: list[PassageOut] = Field(description="closest passages, when the answer abstains")
    standalone_question: str = Field(description="the follow-up rewritten to stand alone, if it was")
    notice: str = Field(description="e.g. that the LLM was unavailable; empty if nothing to say")


def answer_payload(answer: Answer, dates: Mapping[str, str] | None = None) -> dict:
    """The public JSON of an answer (internal scores and timings stay out); each citation and
    related passage carries its document's date from `dates` (doc id -> date) when known."""
    data = answer.to_dict()
    payload = {key: data[key] for key in AskResponse.model_fields}
    for item in payload["citations"] + payload["related"]:
        item["date"] = (dates or {}).get(item["doc"], "")
    return payload


class FeedbackCitation(CitationOut):
    """A citation as /api/ask returned it, sent back with a rating: every text field bounded."""

    doc: str = Field(max_length=MAX_CITATION_LABEL_CHARS)
    title: str = Field(max_length=MAX_CITATION_LABEL_CHARS)
    section: str = Field(max_length=MAX_CITATION_LABEL_CHARS)
    text: str = Field(max_length=MAX_CITATION_TEXT_CHARS, description="the whole passage")
    quote: str = Field(max_length=MAX_CITATION_TEXT_CHARS, description="the cited sentence")
    date: str = Field("", max_length=MAX_CITATION_LABEL_CHARS)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: Literal["up", "down"]
    question: str = Field(description=f"1 to {MAX_QUESTION_CHARS} characters")
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS)
    citations: list[FeedbackCitation] = Field(default_factory=list, max_length=MAX_FEEDBACK_CITATIONS)
    source: Literal["widget", "api"] = "api"

    @field_validator("question")
    @classmethod
    def _question_usable(cls, value: str) -> str:
        return clean_question(value)


class FeedbackResponse(BaseModel):
    id: int


class ErrorResponse(BaseModel):
    error: str = Field(description="what was wrong, in one line")
    errors: list[str] = Field(default_factory=list, description="every problem found, one per field")


class DocumentSummary(BaseModel):
    id: str = Field(description="the document id (its file name), as in citations' `doc`")
    title: str
    issuer: str = Field(description="issuing office; empty if the text states none")
    number: str = Field(description="document number such as 通政办发〔2022〕23号; empty if none")
    date: str = Field(description="issue date as written in the document; empty if none")
    chunks: int = Field(description="passages of the document in the index")


class SectionOut(BaseModel):
    title: str
    level: int = Field(description="1 `一、`, 2 `（一）`, 3 `1.`, 4 an unnumbered short heading line")
    start: int = Field(description="offset of the heading line in `text`")
    end: int


class DocumentDetail(DocumentSummary):
    source: str = Field(description="publisher named in the text (e.g. a news site); empty if none")
    author: str = Field(description="author or reporter named in the text; empty if none")
    lang: Literal["zh-Hans", "zh-Hant", "en"] = Field(description="the script the document is written in")
    text: str = Field(description="the cleaned text: citation offsets (`start`, `end`) index into it")
    sections: list[SectionOut] = Field(description="section headings, in order")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    index_loaded: bool
    embedder: str
    documents: int
    chunks: int
    llm: bool
