"""Chunk and sentence vectors from one model pass per chunk (`QA_SENTENCE_VECTORS=chunk_pass`).

Each chunk is embedded once with the span-pooling graph (embedding/onnx_embedder.py,
`OnnxSpanEmbedder`): the chunk's vector is the model's normal one (mean over every token, dense
layers, normalised), and each sentence's vector is the mean over the sentence's tokens of the same
hidden states, then the same dense layers and normalisation. A sentence repeated by the overlap of
two chunks is pooled in the first chunk that holds it, and that vector serves both.

Where a sentence sits in the chunk: the embedder sees `embedding_text(chunk)` (section leaf, newline,
the chunk's search form), so the sentence's search form is looked up there, left to right. A
sentence whose search form is not found verbatim (normalisation across the sentence boundary) is
embedded on its own, as the separate mode does.

Cache: chunk vectors under (embedder, sha256 of the chunk's text), shared with the separate mode
(the same vector to cosine 1 - 1e-7); sentence vectors under (embedder + CACHE_SUFFIX, sha256 of
the chunk's text and the sentence's character span in it), since they depend on their chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from embedding.embedders import Embedder
from language.normalize import search_form, section_leaf
from qa_types import Chunk
from store.vectors import EmbeddingCache, embed_texts, embedding_text

CACHE_SUFFIX = "|chunk_pass-v1"  # bump when the pooling of a sentence changes
BATCH = 32  # chunks per call; the embedder batches them again by token count


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def locate_sentences(
    chunks: list[Chunk], doc_texts: dict[str, str], spans: list[tuple[int, int, int]]
) -> tuple[list[int], dict[int, list[tuple[int, int, int]]], list[int]]:
    """Where each sentence's vector comes from.

    Returns (source, pooled, alone): source[k] = the index (into `spans`) of the sentence whose
    vector sentence k takes (itself, or its first occurrence in an earlier chunk); pooled[c] =
    (k, start, end) of each first occurrence chunk c pools, start/end being character offsets in
    `embedding_text(chunks[c])`; alone = first occurrences not found in their chunk's text.
    """
    first: dict[tuple[str, int, int], int] = {}
    source: list[int] = []
    pooled: dict[int, list[tuple[int, int, int]]] = {}
    alone: list[int] = []
    cursor: dict[int, int] = {}
    for k, (c, start, end) in enumerate(spans):
        chunk = chunks[c]
        key = (chunk.doc, start, end)
        if key in first:
            source.append(first[key])
            continue
        first[key] = k
        source.append(k)
        base = len(section_leaf(chunk.section)) + 1  # embedding_text: leaf + "\n" + search_text
        needle = search_form(doc_texts[chunk.doc][start:end])
        at = chunk.search_text.find(needle, cursor.get(c, 0)) if needle else -1
        if at < 0:
            alone.append(k)
            continue
        cursor[c] = at + len(needle)
        pooled.setdefault(c, []).append((k, base + at, base + at + len(needle)))
    return source, pooled, alone


def embed_chunk_pass(
    chunks: list[Chunk],
    doc_texts: dict[str, str],
    spans: list[tuple[int, int, int]],
    embedder: Embedder,
    cache: EmbeddingCache | None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """(chunk vectors (n_chunks, dim), sentence vectors (len(spans), dim), texts newly embedded).

    `embedder` must have `embed_with_spans` (OnnxSpanEmbedder, possibly behind a LazyEmbedder,
    which is only loaded when something is missing from the cache)."""
    texts = [embedding_text(c) for c in chunks]
    source, pooled, alone = locate_sentences(chunks, doc_texts, spans)
    sentence_name = embedder.name + CACHE_SUFFIX
    chunk_sha = [_sha(t) for t in texts]
    span_sha = {k: _sha(f"{texts[c]}\0{a}:{b}") for c, rows in pooled.items() for k, a, b in rows}
    chunk_known = cache.get_many(embedder.name, list(set(chunk_sha))) if cache else {}
    span_known = cache.get_many(sentence_name, list(span_sha.values())) if cache else {}
    # Chunks to run: a missing chunk vector or a missing sentence it pools. Equal texts run once.
    todo, seen = [], set()
    for c, sha in enumerate(chunk_sha):
        missing = sha not in chunk_known or any(span_sha[k] not in span_known for k, _, _ in pooled.get(c, []))
        if missing and sha not in seen:
            seen.add(sha)
            todo.append(c)
    todo.sort(key=lambda c: len(texts[c]))  # similar lengths together: little padding
    if progress:
        progress(len(chunks) - len(todo))
    model = getattr(embedder, "model", embedder)  # a LazyEmbedder loads here, on the first miss
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        results = model.embed_with_spans(
            [texts[c] for c in batch], [[(a, b) for _, a, b in pooled.get(c, [])] for c in batch]
        )
        new_chunks, new_spans = [], []
        for c, vectors in zip(batch, results):
            new_chunks.append((chunk_sha[c], vectors[0]))
            new_spans += [(span_sha[k], v) for (k, _, _), v in zip(pooled.get(c, []), vectors[1:])]
        chunk_known.update(new_chunks)
        span_known.update(new_spans)
        if cache:
            cache.put_many(embedder.name, new_chunks)
            cache.put_many(sentence_name, new_spans)
        if progress:
            progress(len(batch))
    dim = len(next(iter(chunk_known.values()))) if chunk_known else embedder.dim
    chunk_vectors = np.zeros((len(chunks), dim), dtype=np.float32)
    for c, sha in enumerate(chunk_sha):
        chunk_vectors[c] = chunk_known[sha]
    sentence_vectors = np.zeros((len(spans), dim), dtype=np.float32)
    newly = len(todo)
    if alone:  # not found verbatim in their chunk: embedded on their own (cached like the separate mode)
        alone_texts = [search_form(doc_texts[chunks[spans[k][0]].doc][spans[k][1] : spans[k][2]]) for k in alone]
        vectors, newly_alone = embed_texts(alone_texts, embedder, cache)
        sentence_vectors[alone] = vectors
        newly += newly_alone
    for k, sha in span_sha.items():
        sentence_vectors[k] = span_known[sha]
    return chunk_vectors, sentence_vectors[source], newly
