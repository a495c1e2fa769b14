"""The temp folder a benchmark run works in: its indexes, cold embedding caches, server logs.

Nothing here writes to the repo's `index/` or to the shared model cache's embedding cache file:
indexes are built under the temp root, and a "cold" model cache is a fresh folder whose model
folders are symlinks to the real weights (the embedding cache lives at
`<model_cache>/embedding_cache.sqlite3`, so a fresh folder means an empty cache, and the ~1 GB of
weights are neither copied nor downloaded).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from config import REPO_ROOT, Config

# What is measured: EmbeddingGemma in fp32 on ONNX Runtime (the default), the same model on PyTorch
# (the path ONNX replaced) and in int8 on ONNX Runtime (the faster option), and the light use-m3.
# "name@runtime" picks a runtime; every EmbeddingGemma variant names its own, so a row says what it
# measured whatever the default is.
FP32 = "embeddinggemma@onnx"
INT8 = "embeddinggemma@onnx-int8"
EMBEDDERS = (FP32, "embeddinggemma@torch", INT8, "use-m3")


def split_variant(variant: str) -> tuple[str, str]:
    """'embeddinggemma@torch' -> ('embeddinggemma', 'torch'); no '@' -> the default runtime."""
    embedder, _, runtime = variant.partition("@")
    return embedder, runtime or Config.embedding_runtime


def variant_environment(variant: str) -> dict[str, str]:
    """The QA_* settings that select this variant in a child process."""
    embedder, runtime = split_variant(variant)
    return {"QA_EMBEDDER": embedder, "QA_EMBEDDING_RUNTIME": runtime}


def bench_environment(**settings: str) -> dict[str, str]:
    """This process's environment without the developer's QA_* settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(settings)
    return env


class Workspace:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="govdoc-bench-"))
        self.root.mkdir(parents=True, exist_ok=True)
        # Where the weights already are (QA_MODEL_CACHE or ~/.cache/govdoc-qa): read, never written
        # by a cold run. Index builds that are not themselves measured use it, so they are warm.
        self.shared_model_cache = Config.from_env().model_cache
        self._indexes: dict[str, Path] = {}

    def path(self, *parts: str) -> Path:
        folder = self.root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def config(self, variant: str, index_dir: Path, model_cache: Path | None = None) -> Config:
        embedder, runtime = split_variant(variant)
        return Config(
            seeds_dir=REPO_ROOT / "seeds",
            index_dir=index_dir,
            embedder=embedder,
            embedding_runtime=runtime,
            model_cache=model_cache or self.shared_model_cache,
            feedback_db=self.root / "feedback.sqlite3",
        )

    def cold_model_cache(self, name: str) -> Path:
        """A model cache with the real weights (symlinked) and an empty embedding cache."""
        cache = self.root / "model-caches" / name
        if cache.exists():
            shutil.rmtree(cache)
        models = cache / "models"
        models.mkdir(parents=True)
        shared_models = self.shared_model_cache / "models"
        if shared_models.is_dir():
            for entry in shared_models.iterdir():
                if entry.is_dir():  # model folders only; lock files stay per cache
                    (models / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
        return cache

    def register_index(self, embedder: str, index_dir: Path) -> None:
        self._indexes[embedder] = index_dir

    def index_for(self, embedder: str) -> Path:
        """A complete index of seeds/ for `embedder`, built here on first use."""
        if embedder not in self._indexes:
            from ingest.build import build_index

            index_dir = self.path("indexes", embedder) / "index"
            build_index(self.config(embedder, index_dir), log=lambda message: None)
            self._indexes[embedder] = index_dir
        return self._indexes[embedder]

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
