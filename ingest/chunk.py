"""Sentence-aware chunking with character offsets into the cleaned document.

Chinese sentences end at 。！？； (or their ASCII forms) plus any closing quotes or brackets; a
period inside a number (`5.2%`, `180.7亿元`) never ends one. Chunks gather whole sentences of one
section up to ~150-350 characters and repeat one sentence of overlap; table rows are one chunk
each, searched together with their header.
"""

from __future__ import annotations

import re

from ingest.structure import Block
from language.normalize import search_form
from qa_types import Chunk, Document

CHUNKER_VERSION = "sentences-v1"
TARGET_MIN = 150  # characters: below this a chunk keeps taking sentences
TARGET_MAX = 350  # characters: above this it stops (a single longer sentence is cut at commas)
TAIL_MERGE = 60  # a section's leftover shorter than this joins the previous chunk

_SENTENCE = re.compile(r"[^。！？!?；;\n]*(?:[。！？!?；;]+[”’」』）)\"']*|\n|$)")
_CLAUSE_BREAK = re.compile(r"[，,、：:]")


def split_sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences in `text`, shifted by `offset`; whitespace-only skipped."""
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start + offset, end + offset))
    return spans


def sentence_spans(chunks: list[Chunk]) -> list[tuple[int, int, int]]:
    """(chunk index, start, end) of every sentence of every chunk, offsets into the document.
    The rerank stage scores these; overlapping chunks share sentences, the cache embeds them once."""
    spans = []
    for i, chunk in enumerate(chunks):
        for start, end in split_sentences(chunk.text, chunk.start):
            spans.append((i, start, end))
    return spans


def _cut_long_sentence(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A sentence longer than TARGET_MAX is cut at the last clause break before the limit."""
    pieces = []
    while end - start > TARGET_MAX:
        window = text[start : start + TARGET_MAX]
        breaks = [m.end() for m in _CLAUSE_BREAK.finditer(window) if m.end() >= TARGET_MIN]
        cut = start + (breaks[-1] if breaks else TARGET_MAX)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _group_sentences(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Greedy windows of whole sentences, TARGET_MIN..TARGET_MAX long, overlapping by one sentence."""
    windows: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        j = i
        while j + 1 < len(spans) and (
            spans[j][1] - spans[i][0] < TARGET_MIN or spans[j + 1][1] - spans[i][0] <= TARGET_MAX
        ):
            if spans[j + 1][1] - spans[i][0] > TARGET_MAX and spans[j][1] - spans[i][0] >= TARGET_MIN:
                break
            j += 1
        windows.append((i, j))
        if j + 1 >= len(spans):
            break
        i = j if j > i else j + 1  # the last sentence repeats at the start of the next chunk
    if len(windows) >= 2:  # a tiny tail folds into the chunk before it
        (pi, _), (li, lj) = windows[-2], windows[-1]
        if spans[lj][1] - spans[li][0] < TAIL_MERGE:
            windows[-2:] = [(pi, lj)]
    return [(spans[a][0], spans[b][1]) for a, b in windows]


def chunk_document(doc: Document, blocks: list[Block]) -> list[Chunk]:
    """Chunks for one document, in reading order."""
    chunks: list[Chunk] = []
    text = doc.text
    table_header = ""

    def add(start: int, end: int, section: str, kind: str = "text", search_prefix: str = "") -> None:
        body = text[start:end]
        chunks.append(
            Chunk(
                id=f"{doc.doc_id}#{len(chunks):04d}",
                doc=doc.doc_id,
                title=doc.title,
                section=section,
                text=body,
                search_text=search_form(search_prefix + body),
                start=start,
                end=end,
                kind=kind,
            )
        )

    run: list[Block] = []

    def flush() -> None:
        if not run:
            return
        spans: list[tuple[int, int]] = []
        for block in run:
            for s, e in split_sentences(text[block.start : block.end], block.start):
                spans.extend(_cut_long_sentence(text, s, e))
        for start, end in _group_sentences(spans):
            add(start, end, run[0].section)
        run.clear()

    for block in blocks:
        if block.kind == "table_header":
            flush()
            table_header = text[block.start : block.end]
        elif block.kind == "table_row":
            flush()
            add(block.start, block.end, block.section, "table_row", table_header + "\n")
        elif block.kind == "heading":
            flush()
        else:
            if run and run[0].section != block.section:
                flush()
            run.append(block)
    flush()
    return chunks
