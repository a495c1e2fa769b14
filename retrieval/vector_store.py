"""Dense vectors of the chunks: an embedding cache keyed by content, and the FAISS file.

Vectors are L2-normalised, so inner product (IndexFlatIP) is cosine similarity. The cache is a
SQLite table keyed by (embedder, sha256 of the text embedded): re-ingesting unchanged documents
embeds nothing.
"""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Callable

import faiss
import numpy as np

from qa_types import Chunk
from retrieval.embedders import Embedder

FAISS_FILE = "vectors.faiss"
HNSW_ABOVE = 50_000  # chunks: above this an HNSW graph replaces the exact flat index (see bench/)


def embedding_text(chunk: Chunk) -> str:
    """What the embedder sees: the nearest heading gives a passage its topic (the user sees text)."""
    leaf = chunk.section.rsplit(" › ", 1)[-1]
    return f"{leaf}\n{chunk.search_text}"


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (embedder TEXT, sha TEXT, dim INTEGER, "
                        "vec BLOB, PRIMARY KEY (embedder, sha))")

    def get_many(self, embedder: str, shas: list[str]) -> dict[str, np.ndarray]:
        found = {}
        for i in range(0, len(shas), 500):
            batch = shas[i:i + 500]
            rows = self.db.execute(f"SELECT sha, dim, vec FROM vectors WHERE embedder=? AND sha IN "
                                   f"({','.join('?' * len(batch))})", [embedder, *batch])
            for sha, dim, blob in rows:
                found[sha] = np.frombuffer(blob, dtype=np.float32).reshape(dim)
        return found

    def put_many(self, embedder: str, items: list[tuple[str, np.ndarray]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?,?,?,?)",
                                [(embedder, sha, len(v), np.asarray(v, np.float32).tobytes()) for sha, v in items])

    def close(self) -> None:
        self.db.close()


def embed_chunks(chunks: list[Chunk], embedder: Embedder, cache: EmbeddingCache | None,
                 progress: Callable[[int], None] | None = None, batch: int = 32) -> tuple[np.ndarray, int]:
    """(n_chunks, dim) float32 vectors and how many were newly embedded (cache misses)."""
    texts = [embedding_text(c) for c in chunks]
    shas = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    known = cache.get_many(embedder.name, shas) if cache else {}
    missing = [i for i, sha in enumerate(shas) if sha not in known]
    if progress:
        progress(len(chunks) - len(missing))
    for start in range(0, len(missing), batch):
        idx = missing[start:start + batch]
        vectors = embedder.embed_documents([texts[i] for i in idx])
        new = [(shas[i], v) for i, v in zip(idx, vectors)]
        known.update(new)
        if cache:
            cache.put_many(embedder.name, new)
        if progress:
            progress(len(idx))
    matrix = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    for i, sha in enumerate(shas):
        matrix[i] = known[sha]
    return matrix, len(missing)


def build_faiss(vectors: np.ndarray) -> faiss.Index:
    dim = vectors.shape[1]
    if len(vectors) > HNSW_ABOVE:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def faiss_writer(vectors: np.ndarray) -> Callable[[Path], None]:
    index = build_faiss(vectors)
    return lambda path: faiss.write_index(index, str(path))


def load_faiss(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))
