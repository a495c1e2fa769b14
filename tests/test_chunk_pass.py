"""QA_SENTENCE_VECTORS: sentence vectors from the chunk's own forward pass (chunk_pass) or from a
second pass (separate). The mode is a validated setting, recorded in the manifest, and an index
built one way refuses to load configured the other way; where each sentence sits in its chunk's
embedded text; a chunk_pass build end to end (EmbeddingGemma on ONNX, slow)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from config import Config
from embedding.embedders import require_span_embedder
from ingest.build import build_index
from ingest.chunk import sentence_spans
from ingest.chunk_pass import locate_sentences
from ingest.documents import ingest_folder
from language.normalize import search_form
from qa_types import Chunk
from store.index_files import SentenceVectorsMismatchError, read_index, write_index
from store.vectors import SENTENCE_SPANS_FILE, SENTENCE_VECTORS_FILE, embedding_text


def test_mode_is_a_validated_setting_defaulting_to_separate():
    assert Config.from_env({}).sentence_vectors == "separate"
    assert Config.from_env({"QA_SENTENCE_VECTORS": "chunk_pass"}).sentence_vectors == "chunk_pass"
    with pytest.raises(ValueError, match="QA_SENTENCE_VECTORS='chunk'"):
        Config.from_env({"QA_SENTENCE_VECTORS": "chunk"})


@pytest.mark.parametrize("name, runtime", [("use-m3", "torch"), ("embeddinggemma", "torch")])
def test_chunk_pass_needs_embeddinggemma_on_onnx(name, runtime, tmp_path):
    with pytest.raises(ValueError, match="need EmbeddingGemma on ONNX Runtime"):
        require_span_embedder(name, runtime)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("第一句。第二句。", encoding="utf-8")
    config = Config(
        seeds_dir=seeds,
        index_dir=tmp_path / "index",
        model_cache=tmp_path / "cache",
        embedder=name,
        embedding_runtime=runtime,
        sentence_vectors="chunk_pass",
    )
    with pytest.raises(ValueError, match="QA_SENTENCE_VECTORS=separate"):
        build_index(config, log=lambda message: None)
    assert not (tmp_path / "index").exists()  # refused before anything was written


def _index_with(tmp_path, **manifest) -> object:
    index_dir = tmp_path / "index"
    write_index(index_dir, [], [], {"embedder": {"name": "use-m3", "dim": 512}, **manifest})
    return index_dir


def test_manifest_mismatch_is_refused_with_how_to_rebuild(tmp_path):
    index_dir = _index_with(tmp_path, sentence_vectors="chunk_pass")
    assert read_index(index_dir, "chunk_pass").manifest["sentence_vectors"] == "chunk_pass"
    with pytest.raises(SentenceVectorsMismatchError) as refused:
        read_index(index_dir, "separate")
    message = str(refused.value)
    assert "'chunk_pass'" in message and "'separate' is configured" in message
    assert "QA_SENTENCE_VECTORS=separate python -m ingest" in message


def test_an_index_from_before_the_field_is_separate(tmp_path):
    index_dir = _index_with(tmp_path)
    read_index(index_dir, "separate")
    with pytest.raises(SentenceVectorsMismatchError):
        read_index(index_dir, "chunk_pass")


def test_reader_that_names_no_mode_does_not_check(tmp_path):
    """A reader that uses no sentence vectors (None) reads an index built either way."""
    assert read_index(_index_with(tmp_path, sentence_vectors="chunk_pass")).manifest["sentence_vectors"] == "chunk_pass"


def test_qa_load_refuses_an_index_built_the_other_way(use_m3_index):
    from answering.pipeline import QA

    assert json.loads((use_m3_index / "manifest.json").read_text())["sentence_vectors"] == "separate"
    config = Config(index_dir=use_m3_index, embedder="use-m3", sentence_vectors="chunk_pass")
    with pytest.raises(SentenceVectorsMismatchError, match="rebuild it with: QA_SENTENCE_VECTORS=chunk_pass"):
        QA.load(config)


def _chunk(doc: str, text: str, start: int, section: str = "总则 › 一、目标") -> Chunk:
    return Chunk(f"{doc}#0", doc, "t", section, text, search_form(text), start, start + len(text))


def test_sentences_are_found_in_the_embedded_text_and_shared_by_overlapping_chunks():
    doc = "第一條　目標。第二句話很長，有逗號。第三句！"
    # Two chunks overlapping by one sentence ("第二句話很長，有逗號。"), traditional script and a
    # full-width space: the embedded text is the search form, so offsets differ from the document's.
    first = _chunk("d", doc[:18], 0)
    second = _chunk("d", doc[7:], 7)
    chunks = [first, second]
    spans = sentence_spans(chunks)
    assert len(spans) == 4  # the shared sentence twice
    source, pooled, alone = locate_sentences(chunks, {"d": doc}, spans)
    assert alone == []
    assert source == [0, 1, 1, 3]  # the second chunk's copy takes the first chunk's vector
    for c, rows in pooled.items():
        text = embedding_text(chunks[c])
        for k, a, b in rows:
            _, s, e = spans[k]
            assert text[a:b] == search_form(doc[s:e])
    assert [k for k, _, _ in pooled[1]] == [3]


def test_a_sentence_not_found_verbatim_is_embedded_alone():
    doc = "甲句。乙句。"
    chunk = _chunk("d", doc, 0)
    chunk = dataclasses.replace(chunk, search_text="完全不同的文本")
    _, pooled, alone = locate_sentences([chunk], {"d": doc}, sentence_spans([chunk]))
    assert alone == [0, 1] and pooled == {}


@pytest.fixture(scope="module")
def gemma_cache(tmp_path_factory):
    """A model cache with the real weights and exports (symlinked) and an empty embedding cache."""
    from embedding.model_fetch import MODEL_DIRNAME, is_fetched

    shared = Config.from_env().model_cache / "models"
    if not is_fetched(shared / MODEL_DIRNAME):
        pytest.skip("EmbeddingGemma not fetched; run python -m embedding.model_fetch")
    cache = tmp_path_factory.mktemp("gemma-cache")
    (cache / "models").mkdir()
    for entry in shared.iterdir():
        if entry.is_dir():
            (cache / "models" / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
    return cache


@pytest.mark.slow
def test_chunk_pass_build_end_to_end(gemma_cache, tmp_path):
    from embedding.embedders import load_embedder

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    source = next(p for p in sorted((Config().seeds_dir).iterdir()) if p.suffix == ".txt")
    shutil.copy(source, seeds / source.name)
    config = Config(
        seeds_dir=seeds, index_dir=tmp_path / "index", model_cache=gemma_cache, sentence_vectors="chunk_pass"
    )
    summary = build_index(config, log=lambda message: None)
    stored = read_index(config.index_dir, "chunk_pass")
    assert stored.manifest["sentence_vectors"] == "chunk_pass"
    spans = np.load(stored.path / SENTENCE_SPANS_FILE)
    sentences = np.load(stored.path / SENTENCE_VECTORS_FILE).astype(np.float32)
    assert sentences.shape == (len(spans), 768)
    np.testing.assert_allclose(np.linalg.norm(sentences, axis=1), 1.0, atol=2e-3)  # float16 on disk
    # One model pass per chunk: what was embedded is the chunks (no sentence was run on its own).
    result = ingest_folder(seeds)
    assert summary.newly_embedded == len(result.chunks)
    # The chunk vectors are the model's normal ones.
    import faiss

    index = faiss.read_index(str(stored.path / "vectors.faiss"))
    chunk_vectors = index.reconstruct_n(0, index.ntotal)
    normal = load_embedder("embeddinggemma", gemma_cache).embed_documents([embedding_text(c) for c in result.chunks])
    assert np.min(np.sum(chunk_vectors * normal, axis=1)) >= 0.9999
    # Unchanged documents: every vector from the cache, nothing run.
    assert build_index(config, log=lambda message: None).newly_embedded == 0
    with pytest.raises(SentenceVectorsMismatchError):
        read_index(config.index_dir, "separate")
