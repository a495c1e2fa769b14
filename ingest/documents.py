"""Folder -> cleaned, structured documents and their chunks (no embeddings: see ingest.index)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunk import chunk_document
from ingest.clean import clean_text
from ingest.load import SkippedFile, load_folder
from ingest.structure import extract_dateline, extract_metadata, find_title, split_blocks
from qa_types import Chunk, Document


@dataclass
class DocumentReport:
    """What `python -m ingest --inspect` prints for one document."""

    doc_id: str
    encoding: str
    chars_before: int
    chars_after: int
    chunks: int
    headings: list[str]
    rules_fired: Counter
    metadata: dict[str, str]
    sha256: str


@dataclass
class IngestResult:
    documents: list[Document] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    reports: list[DocumentReport] = field(default_factory=list)


def build_document(
    doc_id: str, raw_text: str, encoding: str = "utf-8"
) -> tuple[Document, list[Chunk], Counter, list[str]]:
    """Clean, structure and chunk one decoded file."""
    text, fired = clean_text(raw_text)
    text, dateline = extract_dateline(text)
    if dateline:
        fired["extract_dateline"] += 1
    metadata = extract_metadata(text) | dateline
    title = find_title(text, fallback=Path(doc_id).stem)
    doc = Document(doc_id=doc_id, title=title, text=text, encoding=encoding, metadata=metadata)
    blocks = split_blocks(text, title)
    headings = [text[b.start : b.end] for b in blocks if b.kind == "heading"]
    return doc, chunk_document(doc, blocks), fired, headings


def ingest_folder(folder: Path) -> IngestResult:
    loaded, skipped = load_folder(folder)
    result = IngestResult(skipped=skipped)
    for item in loaded:
        doc, chunks, fired, headings = build_document(item.doc_id, item.text, item.encoding)
        if not chunks:
            result.skipped.append(SkippedFile(item.doc_id, "no text left after cleaning"))
            continue
        result.documents.append(doc)
        result.chunks.extend(chunks)
        result.reports.append(
            DocumentReport(
                doc_id=item.doc_id,
                encoding=item.encoding,
                chars_before=len(item.text),
                chars_after=len(doc.text),
                chunks=len(chunks),
                headings=headings,
                rules_fired=fired,
                metadata=doc.metadata,
                sha256=hashlib.sha256(item.raw).hexdigest(),
            )
        )
    return result
