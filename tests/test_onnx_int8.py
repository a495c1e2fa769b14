"""EmbeddingGemma quantised to int8 (QA_EMBEDDING_RUNTIME=onnx-int8) is another embedder,
``embeddinggemma@int8``: a validated setting, its own name in the index manifest, the embedding
cache and the eval index key, refused against an fp32 index and the other way round; its vectors
stay close to the fp32 ones (slow: the real model)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import embedding.embedders as embedders
from answering.pipeline import QA, EmbedderMismatchError
from config import REPO_ROOT, Config
from embedding.embedders import Embedder, canonical_name, l2_normalise, load_embedder
from eval.corpus_index import corpus_key
from ingest.build import build_index
from store.index_files import read_index, write_index
from store.vectors import LazyEmbedder, embed_texts

INT8 = "embeddinggemma@int8"


def test_int8_runtime_names_the_quantised_embedder():
    assert canonical_name("google/EmbeddingGemma-300m@INT8") == INT8
    config = Config.from_env({"QA_EMBEDDING_RUNTIME": "onnx-int8"})
    assert (config.embedder, config.embedding_runtime) == (INT8, "onnx-int8")
    config = Config.from_env({"QA_EMBEDDER": INT8})  # the name alone selects it too
    assert (config.embedder, config.embedding_runtime) == (INT8, "onnx-int8")
    assert Config.from_env({}).embedder == "embeddinggemma"  # fp32 stays the default
    # Other embedders have one runtime each, as before: the setting does not rename them.
    assert Config.from_env({"QA_EMBEDDER": "use-m3", "QA_EMBEDDING_RUNTIME": "onnx-int8"}).embedder == "use-m3"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"QA_EMBEDDING_RUNTIME": "int8"}, "QA_EMBEDDING_RUNTIME='int8' is not one of: onnx, onnx-int8, torch"),
        ({"QA_EMBEDDER": INT8, "QA_EMBEDDING_RUNTIME": "torch"}, "runs on ONNX Runtime only.*onnx-int8"),
        ({"QA_EMBEDDER": "use-m3@int8"}, "QA_EMBEDDER='use-m3@int8'.*only quantised variant"),
        ({"QA_EMBEDDER": "embeddinggemma@int4"}, "QA_EMBEDDER='embeddinggemma@int4'"),
    ],
)
def test_settings_that_cannot_agree_are_errors_naming_them(env, message):
    with pytest.raises(ValueError, match=message):
        Config.from_env(env)


def test_the_name_decides_the_vectors(tmp_path):
    """Refused before any model is loaded: a plain name is never served int8 vectors."""
    with pytest.raises(ValueError, match="fp32 model"):
        load_embedder("embeddinggemma", tmp_path, "onnx-int8")
    with pytest.raises(ValueError, match="ONNX Runtime only"):
        load_embedder(INT8, tmp_path, "torch")


@pytest.mark.parametrize("built, configured", [("embeddinggemma", "onnx-int8"), (INT8, "onnx")])
def test_an_index_built_with_the_other_quantisation_refuses_to_load(tmp_path, built, configured):
    index_dir = tmp_path / "index"
    write_index(index_dir, [], [], {"embedder": {"name": built, "dim": 768}, "sentence_vectors": "separate"})
    config = Config(index_dir=index_dir, model_cache=tmp_path / "cache", embedding_runtime=configured)
    with pytest.raises(EmbedderMismatchError, match=f"built with embedder '{built}'") as refused:
        QA.load(config)
    assert f"python -m ingest --embedder {config.embedder}" in str(refused.value)


def test_eval_index_key_differs_with_the_quantisation():
    seeds = REPO_ROOT / "seeds"
    fp32, int8 = Config(), Config(embedding_runtime="onnx-int8")
    assert corpus_key(seeds, fp32.embedder) != corpus_key(seeds, int8.embedder)


class FakeGemma(Embedder):
    """Stands in for the model (this test is about names, not vectors): 768-d, one direction per
    name, so vectors of the two quantisations are told apart."""

    dim = 768

    def __init__(self, name: str) -> None:
        self.name = name

    def embed_batch(self, texts, *, is_query):
        rows = np.zeros((len(texts), self.dim), np.float32)
        rows[:, 1 if self.name.endswith("@int8") else 0] = 1.0
        return l2_normalise(rows)


def test_build_records_the_quantised_name_in_manifest_and_cache(tmp_path, monkeypatch):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.txt").write_text("第一条 本办法自2024年1月1日起施行。第二条 由市政府负责解释。", encoding="utf-8")
    monkeypatch.setattr(embedders, "_build", lambda name, cache, runtime: FakeGemma(name))
    embedders.clear_cache()
    try:
        for runtime, name in (("onnx", "embeddinggemma"), ("onnx-int8", INT8)):
            config = Config(
                seeds_dir=seeds, index_dir=tmp_path / name, model_cache=tmp_path / "cache", embedding_runtime=runtime
            )
            summary = build_index(config, log=lambda message: None)
            assert summary.newly_embedded > 0  # int8 found nothing to reuse in the fp32 entries
            assert read_index(config.index_dir).manifest["embedder"] == {"name": name, "dim": 768}
    finally:
        embedders.clear_cache()
    db = sqlite3.connect(tmp_path / "cache" / "embedding_cache.sqlite3")
    rows = dict(db.execute("SELECT embedder, COUNT(*) FROM vectors GROUP BY embedder").fetchall())
    assert set(rows) == {"embeddinggemma", INT8} and rows["embeddinggemma"] == rows[INT8]


def test_vectors_of_another_embedder_are_never_cached_under_this_name():
    lazy = LazyEmbedder("embeddinggemma", lambda: FakeGemma(INT8))
    with pytest.raises(RuntimeError, match="loaded embedder 'embeddinggemma@int8' where 'embeddinggemma'"):
        embed_texts(["第一句。"], lazy, cache=None)


# --- the real model (slow) ---------------------------------------------------------------------

# Smallest cosine of an int8 vector to its fp32 vector, measured (ONNX Runtime 1.32, 2 cores):
# 0.9922 over the 534 sentences and 0.9924 over the 106 chunks of seeds/, 0.9936 over the first
# 100 gold questions (means 0.9958, 0.9944, 0.9960). The bound leaves room for other CPUs' kernels.
MIN_COSINE = 0.99


def _seed_texts() -> tuple[list[str], list[str]]:
    from eval.gold import load_gold
    from ingest.chunk import sentence_spans
    from ingest.documents import ingest_folder
    from language.normalize import search_form

    result = ingest_folder(REPO_ROOT / "seeds")
    texts = {d.doc_id: d.text for d in result.documents}
    spans = sentence_spans(result.chunks)[::8]  # every 8th sentence: all five documents, ~70 sentences
    sentences = [search_form(texts[result.chunks[i].doc][s:e]) for i, s, e in spans]
    questions = [item.question for item in load_gold(REPO_ROOT / "eval" / "gold.jsonl")][::6]
    return sentences, questions


@pytest.fixture(scope="module")
def models():
    config = Config.from_env({})
    if not (config.model_cache / "models" / "embeddinggemma-300m").is_dir():
        pytest.skip("EmbeddingGemma not fetched: run scripts/setup.sh")
    return load_embedder("embeddinggemma", config.model_cache, "onnx"), load_embedder(INT8, config.model_cache, "onnx")


@pytest.mark.slow
def test_int8_vectors_stay_close_to_fp32_on_seed_sentences_and_questions(models):
    fp32, int8 = models
    assert (int8.name, int8.runtime, int8.dim) == (INT8, "onnx-int8", 768)
    sentences, questions = _seed_texts()
    for texts, is_query in ((sentences, False), (questions, True)):
        got, expected = int8.embed_batch(texts, is_query=is_query), fp32.embed_batch(texts, is_query=is_query)
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosine = np.sum(got * expected, axis=1)
        assert cosine.min() >= MIN_COSINE, (cosine.min(), texts[int(cosine.argmin())])
        assert cosine.mean() >= 0.994
        assert not np.allclose(got, expected, atol=1e-4)  # it is the quantised graph, not the fp32 one


@pytest.mark.slow
def test_int8_span_graph_gives_the_int8_vector_in_its_chunk_pass(models):
    _, int8 = models
    spans_model = embedders.load_span_embedder(INT8, Config.from_env({}).model_cache, "onnx-int8")
    assert (spans_model.name, spans_model.runtime) == (INT8, "onnx-int8")
    chunk = "（二）产业发展\n小米汽车一期工厂已建成投产，年产能15万辆。马驹桥物流基地承担北京重要民生消费品集散功能。"
    got = spans_model.embed_with_spans([chunk], [[(8, 30)]])[0]
    assert got.shape == (2, 768)
    assert float(got[0] @ int8.embed_documents([chunk])[0]) >= 0.999
