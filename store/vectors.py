"""Dense vectors of the chunks: an embedding cache keyed by content, and the FAISS file.

Vectors are L2-normalised, so inner product (IndexFlatIP) is cosine similarity. The cache is a
SQLite table keyed by (embedder, sha256 of the text embedded): re-ingesting unchanged documents
embeds nothing. The embedder is its canonical name, quantisation included (``embeddinggemma@int8``
apart from ``embeddinggemma``), so one model's vectors are never served as another's.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from embedding.embedders import Embedder
from language.normalize import section_leaf
from qa_types import Chunk

FAISS_FILE = "vectors.faiss"
SENTENCE_VECTORS_FILE = "sentence_vectors.npy"  # (n_sentences, dim) float16: halves memory, cosine unchanged to 1e-3
SENTENCE_SPANS_FILE = "sentence_spans.npy"  # (n_sentences, 3) int64: chunk index, start, end
# Exact search up to 100k chunks: at 768-d its p95 is ≈ 28 ms there, a tenth of the answer's budget.
# Past that, an HNSW graph built and searched with settings that kept recall@10 ≥ 0.99 against
# exact search at 100k synthetic chunks, even on the pessimistic proxy (bench/RESULTS.md, "Scale").
HNSW_ABOVE = 100_000
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 200, 512


def embedding_text(chunk: Chunk) -> str:
    """What the embedder sees: the nearest heading gives a passage its topic (the user sees text)."""
    return f"{section_leaf(chunk.section)}\n{chunk.search_text}"


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (embedder TEXT, sha TEXT, dim INTEGER, "
            "vec BLOB, PRIMARY KEY (embedder, sha))"
        )

    def get_many(self, embedder: str, shas: list[str]) -> dict[str, np.ndarray]:
        found = {}
        for i in range(0, len(shas), 500):
            batch = shas[i : i + 500]
            rows = self.db.execute(
                f"SELECT sha, dim, vec FROM vectors WHERE embedder=? AND sha IN ({','.join('?' * len(batch))})",
                [embedder, *batch],
            )
            for sha, dim, blob in rows:
                found[sha] = np.frombuffer(blob, dtype=np.float32).reshape(dim)
        return found

    def put_many(self, embedder: str, items: list[tuple[str, np.ndarray]]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?,?,?,?)",
                [(embedder, sha, len(v), np.asarray(v, np.float32).tobytes()) for sha, v in items],
            )

    def close(self) -> None:
        self.db.close()


class LazyEmbedder(Embedder):
    """Loads the model on first use: re-ingesting unchanged documents (all vectors cached) never
    pays the seconds a model takes to load."""

    def __init__(self, name: str, load: Callable[[], Embedder]) -> None:
        self.name = name
        self._load = load
        self._model: Embedder | None = None

    @property
    def model(self) -> Embedder:
        if self._model is None:
            model = self._load()
            if model.name != self.name:  # its vectors would be cached and recorded under another's name
                raise RuntimeError(f"loaded embedder {model.name!r} where {self.name!r} was expected")
            self._model = model
        return self._model

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.model.dim

    def embed_batch(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        return self.model.embed_batch(texts, is_query=is_query)


def embed_chunks(
    chunks: list[Chunk],
    embedder: Embedder,
    cache: EmbeddingCache | None,
    progress: Callable[[int], None] | None = None,
    batch: int = 32,
) -> tuple[np.ndarray, int]:
    """(n_chunks, dim) float32 vectors and how many were newly embedded (cache misses)."""
    return embed_texts([embedding_text(c) for c in chunks], embedder, cache, progress, batch)


def embed_texts(
    texts: list[str],
    embedder: Embedder,
    cache: EmbeddingCache | None,
    progress: Callable[[int], None] | None = None,
    batch: int = 32,
) -> tuple[np.ndarray, int]:
    """(n, dim) float32 document vectors, reusing cached ones; also returns the number embedded."""
    shas = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    known = cache.get_many(embedder.name, shas) if cache else {}
    first_of = {}
    for i, sha in enumerate(shas):
        first_of.setdefault(sha, i)
    missing = [i for sha, i in first_of.items() if sha not in known]  # each distinct text once
    # Texts of similar length batched together: a batch is padded to its longest text, so sorting
    # by length keeps the padding (wasted model work) small.
    missing.sort(key=lambda i: len(texts[i]))
    if progress:
        progress(len(texts) - len(missing))
    for start in range(0, len(missing), batch):
        idx = missing[start : start + batch]
        vectors = embedder.embed_documents([texts[i] for i in idx])
        new = [(shas[i], v) for i, v in zip(idx, vectors)]
        known.update(new)
        if cache:
            cache.put_many(embedder.name, new)
        if progress:
            progress(len(idx))
    dim = len(next(iter(known.values()))) if known else embedder.dim
    matrix = np.zeros((len(texts), dim), dtype=np.float32)
    for i, sha in enumerate(shas):
        matrix[i] = known[sha]
    return matrix, len(missing)


def build_faiss(vectors: np.ndarray) -> faiss.Index:
    dim = vectors.shape[1]
    if len(vectors) > HNSW_ABOVE:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH  # stored in the index file
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def npy_writer(array: np.ndarray) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as fh:  # a file handle keeps np.save from appending ".npy"
            np.save(fh, array, allow_pickle=False)

    return write


def faiss_writer(vectors: np.ndarray) -> Callable[[Path], None]:
    index = build_faiss(vectors)
    return lambda path: faiss.write_index(index, str(path))


def load_faiss(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))
