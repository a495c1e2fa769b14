"""The indexed documents as the server shows them: a listing with the header fields parsed at ingest
(title, issuer, document number, date) and one document whole, with its section headings.

Everything comes from the index the QA object loaded (titles, metadata, the cleaned texts and the
chunks), so the viewer shows exactly the text that citation offsets point into. Section headings are
found with the same rule ingest used (`ingest.structure.split_blocks`), on request, for one document.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from ingest.structure import split_blocks
from language.normalize import detect_script
from server.startup import QAHolder


@dataclass(frozen=True)
class Section:
    """A heading line of a document: its text, level (1 `一、`, 2 `（一）`, 3 `1.`, 4 an unnumbered
    short line) and its offsets in the cleaned text."""

    title: str
    level: int
    start: int
    end: int

    def to_dict(self) -> dict:
        return {"title": self.title, "level": self.level, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class DocumentRecord:
    id: str
    title: str
    text: str
    chunks: int
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.metadata.get("issuer", "")

    @property
    def number(self) -> str:
        return self.metadata.get("doc_number", "")

    @property
    def date(self) -> str:
        return self.metadata.get("date", "")

    @property
    def source(self) -> str:
        return self.metadata.get("source", "")

    @property
    def author(self) -> str:
        return self.metadata.get("author", "")

    @property
    def lang(self) -> str:
        """`zh-Hans`, `zh-Hant` or `en`, by the script the document is written in."""
        return detect_script(self.text)

    def sections(self) -> list[Section]:
        return [
            Section(self.text[b.start : b.end].strip(), b.heading_level, b.start, b.end)
            for b in split_blocks(self.text, self.title)
            if b.kind == "heading"
        ]

    def summary(self) -> dict:
        """The fields of `GET /api/documents` (empty strings where the text states nothing)."""
        return {
            "id": self.id,
            "title": self.title,
            "issuer": self.issuer,
            "number": self.number,
            "date": self.date,
            "chunks": self.chunks,
        }

    def detail(self) -> dict:
        """The fields of `GET /api/documents/{id}`."""
        return {
            **self.summary(),
            "source": self.source,
            "author": self.author,
            "lang": self.lang,
            "text": self.text,
            "sections": [s.to_dict() for s in self.sections()],
        }


class DocumentCatalog:
    """The documents of a loaded QA object, read from it on first use (a stand-in QA without an
    index, as in tests of failures, simply has no documents). `qa` may be a server.startup.QAHolder
    still loading: then every use raises Starting (or StartupFailed) until it is ready."""

    def __init__(self, qa) -> None:
        self._qa = qa

    def _loaded_qa(self):
        return self._qa.get() if isinstance(self._qa, QAHolder) else self._qa

    @cached_property
    def _records(self) -> dict[str, DocumentRecord]:
        qa = self._loaded_qa()
        searcher = getattr(qa, "searcher", None)
        texts: dict[str, str] = getattr(searcher, "documents_text", None) or {}
        counts = Counter(chunk.doc for chunk in getattr(searcher, "chunks", None) or [])
        titles = (getattr(qa, "index_info", None) or {}).get("titles", {})
        metadata = getattr(qa, "documents_metadata", None) or {}
        return {
            doc_id: DocumentRecord(doc_id, titles.get(doc_id, doc_id), text, counts[doc_id], metadata.get(doc_id, {}))
            for doc_id, text in texts.items()
        }

    @cached_property
    def dates(self) -> dict[str, str]:
        """Document id -> issue date as written in the document, for the documents that state one."""
        metadata = getattr(self._loaded_qa(), "documents_metadata", None) or {}
        return {doc_id: meta["date"] for doc_id, meta in metadata.items() if meta.get("date")}

    def all(self) -> list[DocumentRecord]:
        return list(self._records.values())

    def get(self, doc_id: str) -> DocumentRecord | None:
        return self._records.get(doc_id)


def parse_span(value: str | None, length: int) -> tuple[int, int] | None:
    """`"120-158"` -> (120, 158) when it is a non-empty span inside a text of `length` characters."""
    if not value:
        return None
    start, sep, end = value.partition("-")
    if not sep or not all(part.isascii() and part.isdigit() and len(part) <= 9 for part in (start, end)):
        return None
    lo, hi = int(start), int(end)
    return (lo, hi) if 0 <= lo < hi <= length else None
