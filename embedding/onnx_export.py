"""Export EmbeddingGemma to ONNX once, so queries and documents run on ONNX Runtime without torch.

    python -m embedding.onnx_export [--cache DIR] [--spans]   # default: $QA_MODEL_CACHE/models

The whole sentence-transformers pipeline (modules.json: Transformer -> Pooling (mean over every
token, prompt included) -> Dense 768->3072 -> Dense 3072->768 -> Normalize) becomes one graph from
(input_ids, attention_mask) to the unit sentence vector.

With ``--spans`` (``spans=True``; what ``QA_SENTENCE_VECTORS=chunk_pass`` uses) the graph takes a
third input, ``pool_weights`` (batch, pools, tokens) float32, and gives (batch, pools, 768) unit
vectors: the same modules, with the Pooling module's mean taken over the tokens each row of
``pool_weights`` selects instead of over the attention mask. One forward pass of a chunk then gives
the chunk's vector (a row equal to the attention mask: the normal pipeline, checked against it)
and each of its sentences' vectors (a row selecting the sentence's tokens).

The export is cached beside the weights in a folder named by the weights' sha256, so new weights
get a new export and the same weights are never exported twice. An export is kept only when ONNX
Runtime reproduces the PyTorch vectors (cosine >= MIN_COSINE on a few probe texts): the ONNX path
then gives the same vectors as the PyTorch one, so an index built by either serves the other.

Exporting needs torch, sentence-transformers and onnxscript (about 1-2 minutes and 3 GB of memory
on 2 cores); using the export needs only onnxruntime, tokenizers and numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from embedding.model_fetch import MARKER_NAME, MODEL_DIRNAME, default_cache_dir

ONNX_FILE = "model.onnx"
EXPORT_MARKER = "export.json"
MIN_COSINE = 0.9999  # ONNX against PyTorch vectors of the probe texts; fp32 reproduces them to ~1e-7
OPSET = 18
PROBE_TEXTS = (
    "task: search result | query: 小米汽车一期的年产能是多少？",
    "title: none | text: 馬駒橋鎮以六支渠為界，鎮西部地區46平方公里納入亦莊新城總體規劃範圍。",
    "title: none | text: The documents do not state it.",
)

Log = Callable[[str], None]


class OnnxExportError(RuntimeError):
    pass


# The module composition the span graph reproduces; any other model refuses a span export.
EXPECTED_MODULES = ["Transformer", "Pooling", "Dense", "Dense", "Normalize"]


def graph_dir(model_dir: Path, kind: str) -> Path:
    """Where a graph of `kind` ("onnx", "onnx-spans", "onnx-int8" …) made from the weights in
    `model_dir` lives: named by their sha256 (from the fetch marker), so it can never be used with
    other weights."""
    marker = json.loads((Path(model_dir) / MARKER_NAME).read_text(encoding="utf-8"))
    digest = marker["sha256"]["model.safetensors"]
    return Path(model_dir).parent / f"{MODEL_DIRNAME}-{kind}-{digest[:16]}"


def is_made(model_dir: Path, kind: str, marker: str) -> bool:
    """The graph of `kind` is complete: its model and the marker written last (see publish)."""
    try:
        folder = graph_dir(model_dir, kind)
    except (OSError, ValueError, KeyError):
        return False
    return (folder / marker).is_file() and (folder / ONNX_FILE).is_file()


def export_dir(model_dir: Path, *, spans: bool = False) -> Path:
    return graph_dir(model_dir, "onnx-spans" if spans else "onnx")


def is_exported(model_dir: Path, *, spans: bool = False) -> bool:
    return is_made(model_dir, "onnx-spans" if spans else "onnx", EXPORT_MARKER)


def _span_module(torch, model):
    """The model's own modules with the mean pooling taken per row of `pool_weights`:
    (input_ids, attention_mask, pool_weights (b, p, t)) -> (b, p, dim) unit vectors."""
    names = [type(m).__name__ for m in model]
    pooling = model[1] if len(names) > 1 else None
    if names != EXPECTED_MODULES or pooling.pooling_mode not in ("mean", ("mean",)) or not pooling.include_prompt:
        raise OnnxExportError(
            f"span export expects modules {EXPECTED_MODULES} with mean pooling over the prompt too, "
            f"got {names} (pooling {getattr(pooling, 'pooling_mode', None)!r})"
        )

    class SpanVectors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = model[0]
            self.head = torch.nn.Sequential(model[2], model[3], model[4])  # Dense, Dense, Normalize

        def forward(self, input_ids, attention_mask, pool_weights):
            features = self.transformer({"input_ids": input_ids, "attention_mask": attention_mask})
            tokens = features["token_embeddings"]  # (b, t, 768)
            # Pooling's mean: sum of the selected tokens / their count (clamped as Pooling does).
            summed = torch.bmm(pool_weights.to(tokens.dtype), tokens)  # (b, p, 768)
            counts = torch.clamp(pool_weights.sum(dim=-1, keepdim=True), min=1e-9)
            pooled = summed / counts
            batch, pools, width = pooled.shape
            out = self.head({"sentence_embedding": pooled.reshape(batch * pools, width)})["sentence_embedding"]
            return out.reshape(batch, pools, -1)

    return SpanVectors().eval()


def export_onnx(model_dir: Path, log: Log = print, *, spans: bool = False) -> Path:
    """Export the sentence-transformers folder `model_dir` to ONNX (see module doc); the folder
    holding model.onnx. Written to a temporary folder and renamed, so a cut export leaves nothing.
    `spans`: the graph with per-span pooling (module doc), in its own folder."""
    model_dir = Path(model_dir)
    target = export_dir(model_dir, spans=spans)
    if is_exported(model_dir, spans=spans):
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import numpy as np
        import onnxruntime
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise OnnxExportError(f"exporting to ONNX needs {exc.name}; run: bash scripts/setup.sh") from None

    what = "EmbeddingGemma with per-span pooling" if spans else "EmbeddingGemma"
    log(f"exporting {what} to ONNX once (about 1-2 minutes) into {target}")
    started = time.perf_counter()
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).eval()

    class SentenceVector(torch.nn.Module):
        def __init__(self, st) -> None:
            super().__init__()
            self.st = st

        def forward(self, input_ids, attention_mask):
            return self.st({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    wrapped = SentenceVector(model).eval()
    probe = model.tokenize(list(PROBE_TEXTS))
    inputs = {"input_ids": probe["input_ids"], "attention_mask": probe["attention_mask"]}
    with torch.no_grad():
        expected = wrapped(probe["input_ids"], probe["attention_mask"]).numpy()
        if spans:
            # Row 0 of each text: every token (must be the normal vector); rows 1-2: token spans.
            mask = probe["attention_mask"].to(torch.float32)
            weights = torch.zeros(mask.shape[0], 3, mask.shape[1])
            weights[:, 0] = mask
            weights[:, 1, 1:6] = 1.0
            weights[:, 2, 4:9] = 1.0
            inputs["pool_weights"] = weights
            wrapped = _span_module(torch, model)
            whole = wrapped(**inputs)[:, 0].numpy()
            cosine = float(np.min(np.sum(whole * expected, axis=1)))
            if cosine < MIN_COSINE:
                raise OnnxExportError(f"span pooling over every token is not the model's vector (cosine {cosine:.6f})")
            expected = wrapped(**inputs).numpy()
    with building(target) as partial:
        axes = {
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            "sentence_embedding": {0: "batch"},
        }
        if spans:
            axes["pool_weights"] = {0: "batch", 1: "pools", 2: "tokens"}
            axes["sentence_embedding"] = {0: "batch", 1: "pools"}
        torch.onnx.export(
            wrapped,
            tuple(inputs.values()),
            str(partial / ONNX_FILE),
            input_names=list(inputs),
            output_names=["sentence_embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=True,
            external_data=True,
        )
        session = onnxruntime.InferenceSession(str(partial / ONNX_FILE), providers=["CPUExecutionProvider"])
        got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
        cosine = float(np.min(np.sum(got * expected, axis=-1)))
        if cosine < MIN_COSINE:
            raise OnnxExportError(f"the ONNX export does not reproduce the PyTorch vectors (cosine {cosine:.6f})")
        publish(
            partial,
            target,
            EXPORT_MARKER,
            {
                "source": str(model_dir),
                "torch": torch.__version__,
                "onnxruntime": onnxruntime.__version__,
                "opset": OPSET,
                "graph": "span pooling" if spans else "sentence vector",
                "probe_min_cosine": round(cosine, 8),
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
    log(f"ONNX export ready in {time.perf_counter() - started:.0f} s (probe cosine {cosine:.7f})")
    return target


@contextmanager
def building(target: Path) -> Iterator[Path]:
    """A fresh folder beside `target` to make a graph in (this process's own), removed if making
    it fails; `publish` turns it into `target`."""
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def publish(partial: Path, target: Path, marker: str, facts: dict) -> None:
    """Finish a graph made in `partial`: write its marker (what it is, how it was checked), then
    rename the folder to `target` in one step; if another process finished first, theirs stays."""
    (partial / marker).write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    if target.exists():
        shutil.rmtree(partial, ignore_errors=True)
    else:
        partial.rename(target)


def run_cli(prog: str, description: str, make: Callable[..., Path], argv: Sequence[str] | None) -> int:
    """`python -m <prog> [--cache DIR] [--spans]`: fetch the weights if needed, make the graph with
    `make(model_dir, log=..., spans=...)`, print where it is."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--cache", type=Path, default=None, help="models folder (default: $QA_MODEL_CACHE/models)")
    parser.add_argument(
        "--spans", action="store_true", help="the per-span pooling graph (QA_SENTENCE_VECTORS=chunk_pass)"
    )
    args = parser.parse_args(argv)
    from embedding.model_fetch import ensure_embeddinggemma

    cache = args.cache or default_cache_dir()
    try:
        model_dir = ensure_embeddinggemma(cache, log=lambda m: print(m, file=sys.stderr))
        folder = make(model_dir, log=lambda m: print(m, file=sys.stderr), spans=args.spans)
    except OnnxExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(folder / ONNX_FILE)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("python -m embedding.onnx_export", __doc__.split("\n")[0], export_onnx, argv)


if __name__ == "__main__":
    sys.exit(main())
