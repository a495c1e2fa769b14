"""Quantise the EmbeddingGemma ONNX export to int8 once (``QA_EMBEDDING_RUNTIME=onnx-int8``).

    python -m embedding.onnx_quantize [--cache DIR] [--spans]   # default: $QA_MODEL_CACHE/models

Dynamic quantisation (``onnxruntime.quantization.quantize_dynamic``) of the fp32 export
(embedding/onnx_export.py): the weights of the linear layers become int8, one scale per output
channel, and their inputs are quantised to uint8 at run time, one scale per tensor. Left in fp32:

- the MLP down-projections. Their input, gelu(gate) * up, has outlier channels (largest |x| 100 to
  400 times the mean |x| in every layer, on the gold questions) that one uint8 scale per tensor
  flattens: quantising them too lowers the smallest cosine to the fp32 vectors from 0.992 to 0.958
  on the seeds' sentences, for about 15% more speed;
- the token-embedding lookup (int8 would save memory, not time) and the two Dense layers of the
  head (Gemm, which dynamic quantisation leaves alone);
- attention's products of two activations (only weights known ahead are quantised).

Queries and documents go through the same int8 graph, and the vectors it gives are another
embedder's (``embeddinggemma@int8``: its own index manifest name and embedding-cache entries).

The int8 graph is cached beside the fp32 export, in a folder named by the same weights' sha256, so
it is made once per weights (about 30 s and 5 GB of memory on 2 cores; the fp32 export is made
first if missing). It is written to a temporary folder and renamed, and kept only when its vectors
of the probe texts stay within MIN_COSINE of the fp32 ones: a broken quantisation is refused, not
served.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from embedding.onnx_export import (
    ONNX_FILE,
    PROBE_TEXTS,
    Log,
    OnnxExportError,
    building,
    export_onnx,
    graph_dir,
    is_made,
    publish,
    run_cli,
)

QUANTIZE_MARKER = "quantize.json"
# Smallest cosine of an int8 probe vector to its fp32 vector for the graph to be kept: a sanity
# bound well under what it gives (>= 0.992 on the seeds' chunks and sentences, >= 0.993 on the
# gold questions), far above a broken graph's.
MIN_COSINE = 0.98


def quantized_dir(model_dir: Path, *, spans: bool = False) -> Path:
    """Where the int8 graph of the weights in `model_dir` lives: named by their sha256, like the
    fp32 export."""
    return graph_dir(model_dir, "onnx-spans-int8" if spans else "onnx-int8")


def is_quantized(model_dir: Path, *, spans: bool = False) -> bool:
    return is_made(model_dir, "onnx-spans-int8" if spans else "onnx-int8", QUANTIZE_MARKER)


def down_projections(graph) -> list[str]:
    """Names of the gated MLPs' down-projections: a MatMul with a constant weight whose input is
    the product of another such MatMul's output (up) with something (gelu(gate))."""
    constants = {init.name for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    users: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            users[name] = users.get(name, 0) + 1

    def weight_matmul(node) -> bool:
        return node is not None and node.op_type == "MatMul" and node.input[1] in constants

    found = []
    for node in graph.node:
        product = producer.get(node.input[0]) if weight_matmul(node) else None
        if product is not None and product.op_type == "Mul":
            if any(weight_matmul(producer.get(x)) and users.get(x) == 1 for x in product.input):
                found.append(node.name)
    return found


def quantize_onnx(model_dir: Path, log: Log = print, *, spans: bool = False) -> Path:
    """The folder holding the int8 model.onnx of the sentence-transformers folder `model_dir`
    (module doc), made on first use from the fp32 export. `spans`: the per-span pooling graph."""
    model_dir = Path(model_dir)
    target = quantized_dir(model_dir, spans=spans)
    if is_quantized(model_dir, spans=spans):
        return target
    source = export_onnx(model_dir, log=log, spans=spans)
    try:
        import numpy as np
        import onnx
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise OnnxExportError(f"quantising to int8 needs {exc.name}; run: bash scripts/setup.sh") from None
    from embedding.onnx_embedder import OnnxEmbedder, OnnxSpanEmbedder

    log(f"quantising EmbeddingGemma{' (per-span pooling)' if spans else ''} to int8 once (about 30 s) into {target}")
    started = time.perf_counter()
    graph = onnx.load(str(source / ONNX_FILE), load_external_data=False).graph
    keep_fp32 = down_projections(graph)
    if not keep_fp32:
        raise OnnxExportError(f"no MLP down-projection found in {source / ONNX_FILE}: not the graph this expects")
    with building(target) as partial:
        # (quantize_dynamic writes a shape-inferred copy of the graph, without the weights, beside
        # the fp32 model.onnx for a moment: the models folder must be writable, as for the export.)
        quantize_dynamic(
            str(source / ONNX_FILE),
            str(partial / ONNX_FILE),
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep_fp32,
            use_external_data_format=True,
            extra_options={"MatMulConstBOnly": True},
        )
        embedder = OnnxSpanEmbedder if spans else OnnxEmbedder
        probe = [text.split(": ", 2)[-1] for text in PROBE_TEXTS]  # without the prompts, added again
        expected = embedder(model_dir, source, "fp32").embed_documents(probe)
        got = embedder(model_dir, partial, "int8").embed_documents(probe)
        cosine = float(np.min(np.sum(got * expected, axis=1)))
        if cosine < MIN_COSINE:
            raise OnnxExportError(f"the int8 graph strays from the fp32 vectors (probe cosine {cosine:.4f})")
        publish(
            partial,
            target,
            QUANTIZE_MARKER,
            {
                "source": source.name,
                "onnxruntime": onnxruntime.__version__,
                "method": "dynamic: int8 weights per output channel, uint8 activations per tensor",
                "kept_fp32": "token embeddings, MLP down-projections, Dense head",
                "down_projections_kept": len(keep_fp32),
                "probe_min_cosine": round(cosine, 6),
                "made_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
    log(f"int8 graph ready in {time.perf_counter() - started:.0f} s (probe cosine to fp32 {cosine:.4f})")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("python -m embedding.onnx_quantize", __doc__.split("\n")[0], quantize_onnx, argv)


if __name__ == "__main__":
    sys.exit(main())
