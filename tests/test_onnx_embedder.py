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
