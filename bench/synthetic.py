"""A synthetic corpus of any size, made from the seeds' real sentences and their real vectors.

Embedding 100k chunks with a real model takes hours here, so a synthetic chunk is a random draw of
the seeds' sentences (≈250 characters of real Chinese government prose, for the lexical side) and
its vector is made from the stored use-m3 vectors of those sentences:

- "mean": the normalised mean of the sentence vectors. It lies slightly closer to its neighbours
  than a real chunk embedding would (every synthetic chunk is a mix of the same few hundred
  sentences), so an approximate index finds its neighbours a little too easily: optimistic.
- "mean+noise": the mean pushed in a random direction until its cosine to the mean equals the
  cosine a real embedding of the same text has to that mean (measured by `proxy_check`). Random
  directions in 512 dimensions spread the vectors evenly, which is harder for an approximate
  index than real data: pessimistic.

Reporting both brackets what a real 100k-chunk corpus would show; `proxy_check` (bench/scale.py)
embeds a sample for real and shows where real vectors fall between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK_CHARS = 250


@dataclass
class SentencePool:
    texts: list[str]  # search forms, as the lexical and dense indexes see them
    vectors: np.ndarray  # (n, dim) float32, unit rows


def sentence_pool(index_dir: Path) -> SentencePool:
    """Every distinct sentence of an index (overlapping chunks share sentences) and its vector."""
    from language.normalize import search_form
    from store.index_files import read_index
    from store.vectors import SENTENCE_SPANS_FILE, SENTENCE_VECTORS_FILE

    stored = read_index(index_dir)
    spans = np.load(stored.path / SENTENCE_SPANS_FILE, allow_pickle=False)
    vectors = np.load(stored.path / SENTENCE_VECTORS_FILE, allow_pickle=False).astype(np.float32)
    documents = {d.doc_id: d.text for d in stored.documents}
    first_row: dict[str, int] = {}
    for row, (chunk_index, start, end) in enumerate(spans):
        text = search_form(documents[stored.chunks[int(chunk_index)].doc][int(start) : int(end)])
        first_row.setdefault(text, row)
    rows = list(first_row.values())
    unit = vectors[rows] / np.linalg.norm(vectors[rows], axis=1, keepdims=True)
    return SentencePool(list(first_row), unit.astype(np.float32))


def recombine(pool: SentencePool, n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """`n` chunks of random sentences (≥ CHUNK_CHARS characters each) and their "mean" vectors."""
    rng = np.random.default_rng(seed)
    lengths = np.array([len(t) for t in pool.texts])
    texts, vectors = [], np.empty((n, pool.vectors.shape[1]), np.float32)
    for i in range(n):
        picks, total = [], 0
        while total < CHUNK_CHARS:
            pick = int(rng.integers(len(pool.texts)))
            picks.append(pick)
            total += lengths[pick]
        texts.append("".join(pool.texts[p] for p in picks))
        mean = pool.vectors[picks].mean(axis=0)
        vectors[i] = mean / np.linalg.norm(mean)
    return texts, vectors


def perturb(vectors: np.ndarray, cosine: float, seed: int = 1) -> np.ndarray:
    """Each row moved in a random direction so that its cosine to the original is ≈ `cosine`."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(vectors.shape).astype(np.float32) / np.sqrt(vectors.shape[1])  # norm ≈ 1
    # |v + s·g|: v and g are unit and nearly orthogonal, so cos = 1 / sqrt(1 + s²).
    scale = np.sqrt(1 / cosine**2 - 1)
    moved = vectors + scale * noise
    return (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)
