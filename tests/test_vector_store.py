"""store.vectors.build_faiss: exact search for small corpora, HNSW past HNSW_ABOVE."""

from __future__ import annotations

import faiss
import numpy as np

from store import vectors as vector_store


def unit_rows(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_small_corpus_gets_the_exact_index():
    index = vector_store.build_faiss(unit_rows(50))
    assert isinstance(index, faiss.IndexFlatIP) and index.ntotal == 50


def test_large_corpus_gets_hnsw_whose_search_depth_survives_a_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(vector_store, "HNSW_ABOVE", 100)  # the real switch is at 100k chunks
    vectors = unit_rows(400)
    vector_store.faiss_writer(vectors)(tmp_path / "index.faiss")  # as ingest writes it
    loaded = vector_store.load_faiss(tmp_path / "index.faiss")
    assert isinstance(loaded, faiss.IndexHNSWFlat) and loaded.ntotal == 400
    assert loaded.hnsw.efSearch == vector_store.HNSW_EF_SEARCH  # the efSearch chosen in bench/ is what serves
    _, found = loaded.search(vectors[:20], 1)
    assert found[:, 0].tolist() == list(range(20)), "each stored vector is its own nearest neighbour"
