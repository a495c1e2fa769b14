"""EmbeddingGemma on ONNX Runtime gives the PyTorch path's vectors, in the input's order, without
importing torch; the runtime is a validated configuration value."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from config import Config
from embedding.embedders import load_embedder

TEXTS = [
    "小米汽车一期的年产能是多少？",
    "馬駒橋鎮以六支渠為界，鎮西部地區46平方公里納入亦莊新城總體規劃範圍，佔亦莊規劃225平方公里總面積的20%。",
    "What is the planned annual capacity?",
    "短",
    "2023年1-11月，全镇规模以上工业总产值完成112.18亿元，" * 12,  # long: batched apart from the short ones
]


def test_unknown_runtime_is_a_configuration_error_naming_the_variable():
    with pytest.raises(ValueError, match="QA_EMBEDDING_RUNTIME='gpu'"):
        Config.from_env({"QA_EMBEDDING_RUNTIME": "gpu"})
    assert Config.from_env({}).embedding_runtime == "onnx"


def test_load_embedder_refuses_an_unknown_runtime(tmp_path):
    with pytest.raises(ValueError, match="runtime must be one of"):
        load_embedder("use-m3", tmp_path, "tpu")


@pytest.mark.slow
def test_onnx_vectors_match_the_pytorch_vectors_in_input_order():
    config = Config.from_env()
    onnx = load_embedder("embeddinggemma", config.model_cache, "onnx")
    torch = load_embedder("embeddinggemma", config.model_cache, "torch")
    assert (onnx.runtime, torch.runtime) == ("onnx", "torch")
    for is_query in (True, False):
        got = onnx.embed_batch(TEXTS, is_query=is_query)
        expected = torch.embed_batch(TEXTS, is_query=is_query)
        assert got.shape == expected.shape == (len(TEXTS), 768)
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        # Row i is text i (length sorting inside the batch is undone), and it is the same vector.
        assert np.min(np.sum(got * expected, axis=1)) > 0.9999
    assert onnx.embed_queries([]).shape == (0, 768)
    with pytest.raises(TypeError):
        onnx.embed_queries("one string")


@pytest.mark.slow
def test_onnx_path_answers_without_importing_torch():
    """The cold-start saving: nothing on the ONNX path imports torch or sentence-transformers."""
    script = (
        "import sys; from config import Config; from embedding.embedders import load_embedder; "
        "c = Config.from_env(); e = load_embedder('embeddinggemma', c.model_cache, 'onnx'); "
        "v = e.embed_queries(['年产能是多少？']); "
        "print(v.shape, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().endswith("(1, 768) False False"), out.stdout + out.stderr


# A chunk of three sentences as the index embeds it (section leaf, newline, text) and its
# sentences' character spans in it.
CHUNK = (
    "（二）产业发展\n"
    "2023年1-11月，全镇规模以上工业总产值完成112.18亿元，同比增长5.2%。"
    "小米汽车一期工厂已建成投产，年产能15万辆。"
    "马驹桥物流基地承担北京重要民生消费品集散功能，海量商品在这里仓储、中转。"
)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], text.index("\n") + 1
    for end in [i + 1 for i, ch in enumerate(text) if ch == "。"]:
        spans.append((start, end))
        start = end
    return spans


@pytest.mark.slow
def test_span_graph_gives_the_normal_vector_and_sentence_vectors_in_one_pass():
    from embedding.embedders import load_span_embedder

    config = Config.from_env()
    normal = load_embedder("embeddinggemma", config.model_cache, "onnx")
    spans_model = load_span_embedder("embeddinggemma", config.model_cache, "onnx")
    spans = _sentence_spans(CHUNK)
    texts = [CHUNK, TEXTS[1], TEXTS[4]]
    got = spans_model.embed_with_spans(texts, [spans, [(0, 5)], []])
    assert [g.shape for g in got] == [(4, 768), (2, 768), (1, 768)]
    # Row 0 is the model's own pipeline over every token: today's document vector.
    expected = normal.embed_documents(texts)
    assert np.min(np.sum(np.stack([g[0] for g in got]) * expected, axis=1)) >= 0.9999
    np.testing.assert_allclose(spans_model.embed_documents(texts), expected, atol=1e-4)
    # A sentence pooled in its chunk is not its stand-alone vector (its tokens saw the whole chunk),
    # but stays near it: cosine 0.760, 0.821, 0.882 for these three, measured (over the 493 sentences
    # of seeds/: mean 0.760, 5th percentile 0.589, min 0.394), and nearer to its own sentence than to
    # the chunk's others (at most 0.274 here).
    alone = normal.embed_documents([CHUNK[a:b] for a, b in spans])
    similarity = got[0][1:] @ alone.T
    assert np.all(np.diag(similarity) >= 0.75), np.diag(similarity)
    assert np.all(np.argmax(similarity, axis=1) == np.arange(len(spans)))
    assert np.allclose(np.linalg.norm(got[0], axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_a_span_past_the_token_limit_is_embedded_on_its_own():
    from embedding.embedders import load_span_embedder

    config = Config.from_env()
    model = load_span_embedder("embeddinggemma", config.model_cache, "onnx")
    sentence = "末尾的这一句超出了模型的长度上限。"
    text = "很长的文字，" * 1000 + sentence  # > 2048 tokens: the tail is cut off by truncation
    got = model.embed_with_spans([text], [[(len(text) - len(sentence), len(text))]])[0]
    alone = load_embedder("embeddinggemma", config.model_cache, "onnx").embed_documents([sentence])[0]
    assert float(got[1] @ alone) >= 0.9999
