"""An index for any folder of documents, built once and reused while nothing it depends on changes.

`python -m eval run --seeds DIR` answers over DIR: the index lives in the model cache (outside the
repo) under a key made of the folder's files (names and bytes), the embedder and the ingest code,
so a second run over the same folder, or the same corpus in another checkout, builds nothing, and
any edit to a document or to a cleaning rule builds a fresh one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

from config import REPO_ROOT, Config

INGEST_CODE = REPO_ROOT / "ingest"


def _hash_files(digest, root: Path, pattern: str) -> None:
    for path in sorted(p for p in root.rglob(pattern) if p.is_file() and not p.name.startswith(".")):
        digest.update(str(path.relative_to(root)).encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def corpus_key(seeds_dir: Path, embedder: str, sentence_vectors: str = "separate") -> str:
    """Content key of (documents, embedder, how sentence vectors are made, ingest code): equal keys
    mean an equal index."""
    from embedding.embedders import canonical_name

    mode = b"" if sentence_vectors == "separate" else sentence_vectors.encode("utf-8")  # old keys stay valid
    digest = hashlib.sha256(canonical_name(embedder).encode("utf-8") + b"\0" + mode)
    _hash_files(digest, Path(seeds_dir), "*")
    _hash_files(digest, INGEST_CODE, "*.py")
    return digest.hexdigest()[:20]


def config_for_corpus(config: Config, seeds_dir: Path, embedder: str | None = None) -> Config:
    """`config` pointed at an up-to-date index of `seeds_dir`, building it if there is none yet."""
    from store.index_files import IndexUnusableError, read_manifest

    seeds_dir = Path(seeds_dir).expanduser().resolve()
    if not seeds_dir.is_dir():
        raise FileNotFoundError(f"documents folder not found: {seeds_dir}")
    embedder = embedder or config.embedder
    index_dir = (
        config.model_cache / "indexes" / f"{seeds_dir.name}-{corpus_key(seeds_dir, embedder, config.sentence_vectors)}"
    )
    corpus_config = dataclasses.replace(config, seeds_dir=seeds_dir, index_dir=index_dir, embedder=embedder)
    try:
        read_manifest(index_dir)
        return corpus_config
    except IndexUnusableError:
        pass
    from ingest.build import build_index

    print(f"building the index of {seeds_dir} into {index_dir} (once; reused while unchanged)", file=sys.stderr)
    summary = build_index(corpus_config, log=lambda message: None)
    if not summary.documents:
        raise ValueError(f"no readable documents in {seeds_dir}")
    print(summary.describe(), file=sys.stderr)
    return corpus_config
