"""The index folder on disk: chunks, documents, manifest and any vector files, written atomically.

`<index>` is a symlink to a complete version folder in `<parent>/.<name>.versions/`. A new version
is written and fsynced in full, then the symlink is swapped with one rename, so a crash or a
failed write at any point leaves the previous index serving. The manifest records the sha256 of
every file, so a truncated or altered file is detected on load, and how the sentence vectors were
computed (`sentence_vectors`: separate | chunk_pass, see config.py), so an index built one way is
never read configured the other way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa_types import Chunk, Document

INDEX_FORMAT = "govdoc-index v1"


class IndexUnusableError(Exception):
    """The index is missing, from another format, or damaged; the message says how to rebuild."""


class SentenceVectorsMismatchError(IndexUnusableError):
    """The index's sentence vectors were computed in another mode than the one configured."""


REBUILD_HINT = "rebuild it with: python -m ingest --seeds DIR --index {index}"
SEPARATE = "separate"  # the mode of an index whose manifest does not say (built before the field)


@dataclass
class StoredIndex:
    path: Path
    manifest: dict
    documents: list[Document]
    chunks: list[Chunk]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_index(
    index_dir: Path,
    documents: list[Document],
    chunks: list[Chunk],
    manifest: dict,
    extra_files: dict[str, Callable[[Path], None]] | None = None,
) -> Path:
    """Write a complete new version and make `index_dir` point at it. Returns the version folder."""
    index_dir = Path(index_dir)
    versions = index_dir.parent / f".{index_dir.name}.versions"
    versions.mkdir(parents=True, exist_ok=True)
    version = versions / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    version.mkdir()
    try:
        _write_jsonl(version / "chunks.jsonl", [c.to_dict() for c in chunks])
        _write_jsonl(
            version / "documents.jsonl",
            [
                {"doc_id": d.doc_id, "title": d.title, "text": d.text, "encoding": d.encoding, "metadata": d.metadata}
                for d in documents
            ],
        )
        for name, writer in (extra_files or {}).items():
            writer(version / name)
        files = {p.name: _sha256(p) for p in sorted(version.iterdir())}
        full_manifest = {
            "format": INDEX_FORMAT,
            **manifest,
            "files": files,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (version / "manifest.json").write_text(
            json.dumps(full_manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        _fsync_tree(version)
        previous = index_dir.resolve() if index_dir.is_symlink() else None
        _swap_symlink(index_dir, version)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    _prune(versions, keep={version.resolve()} | ({previous} if previous else set()))
    return version


def _swap_symlink(index_dir: Path, version: Path) -> None:
    if index_dir.exists() and not index_dir.is_symlink():
        # An index folder from before versioning: keep it as a version so the swap stays atomic.
        index_dir.rename(version.parent / f"legacy-{time.strftime('%Y%m%dT%H%M%S')}")
    link = index_dir.parent / f".{index_dir.name}.swap-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(version, index_dir.parent))
    try:
        os.replace(link, index_dir)  # rename(2) over the old link: atomic
    except BaseException:
        link.unlink(missing_ok=True)
        raise


def _prune(versions: Path, keep: set[Path]) -> None:
    """Remove every version but the new one and the one it replaced (a server may still be
    reading it); half-written folders left by a killed ingest go too."""
    for path in versions.iterdir():
        if path.is_dir() and path.resolve() not in keep:
            shutil.rmtree(path, ignore_errors=True)


def read_manifest(index_dir: Path) -> dict:
    path = Path(index_dir) / "manifest.json"
    if not path.is_file():
        raise IndexUnusableError(f"no index at {index_dir}; " + REBUILD_HINT.format(index=index_dir))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexUnusableError(
            f"index manifest unreadable ({exc}); " + REBUILD_HINT.format(index=index_dir)
        ) from None
    if manifest.get("format") != INDEX_FORMAT:
        raise IndexUnusableError(
            f"index at {index_dir} has format {manifest.get('format')!r}, expected "
            f"{INDEX_FORMAT!r}; " + REBUILD_HINT.format(index=index_dir)
        )
    return manifest


def verify_files(index_dir: Path, manifest: dict) -> None:
    """Every file listed in the manifest exists with the recorded sha256."""
    for name, expected in manifest.get("files", {}).items():
        path = Path(index_dir) / name
        if not path.is_file():
            raise IndexUnusableError(f"index file {name} is missing; " + REBUILD_HINT.format(index=index_dir))
        if _sha256(path) != expected:
            raise IndexUnusableError(
                f"index file {name} is damaged (checksum mismatch); " + REBUILD_HINT.format(index=index_dir)
            )


def check_sentence_vectors(index_dir: Path, manifest: dict, wanted: str) -> None:
    """Refuse an index whose sentence vectors were computed another way than `wanted`."""
    if not manifest.get("embedder"):
        return  # no vectors at all: nothing to mismatch
    built = manifest.get("sentence_vectors") or SEPARATE
    if built != wanted:
        raise SentenceVectorsMismatchError(
            f"the index at {index_dir} has sentence vectors computed {built!r}, but {wanted!r} is configured; "
            f"rebuild it with: QA_SENTENCE_VECTORS={wanted} python -m ingest --seeds DIR --index {index_dir} "
            f"(or set QA_SENTENCE_VECTORS={built})"
        )


def read_index(index_dir: Path, sentence_vectors: str | None = None) -> StoredIndex:
    """The index at `index_dir`, checked (format, every file's sha256) and refused when its sentence
    vectors were computed another way than `sentence_vectors` (Config.sentence_vectors; None for a
    reader that uses no sentence vectors and so does not care how they were made)."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if sentence_vectors is not None:
        check_sentence_vectors(index_dir, manifest, sentence_vectors)
    verify_files(index_dir, manifest)
    with (index_dir / "chunks.jsonl").open(encoding="utf-8") as fh:
        chunks = [Chunk.from_dict(json.loads(line)) for line in fh if line.strip()]
    with (index_dir / "documents.jsonl").open(encoding="utf-8") as fh:
        documents = [Document(**json.loads(line)) for line in fh if line.strip()]
    return StoredIndex(index_dir.resolve(), manifest, documents, chunks)
