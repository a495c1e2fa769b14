"""axe-core, the accessibility checker the browser tests run on our pages, fetched once from the
npm registry into the model cache (outside the repo), version and checksum pinned.

    python tests/axe_core.py      # fetch it (scripts/setup.sh does); prints where it is

The browser tests inject `axe.min.js` into each page themselves: nothing is loaded from another host.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
TARBALL_URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
# `dist.integrity` of this version in the registry (npm view axe-core@4.14.1 dist.integrity)
INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="


def cache_dir() -> Path:
    """Where config.Config keeps models (QA_MODEL_CACHE, else ~/.cache/govdoc-qa)."""
    if os.environ.get("QA_MODEL_CACHE"):
        return Path(os.environ["QA_MODEL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "govdoc-qa"


def script_path() -> Path:
    return cache_dir() / f"axe-core-{VERSION}" / "axe.min.js"


def fetch() -> Path:
    """Downloads and unpacks axe.min.js unless it is there already; checks the tarball's sha512."""
    path = script_path()
    if path.is_file():
        return path
    with urllib.request.urlopen(TARBALL_URL, timeout=120) as response:
        tarball = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if digest != INTEGRITY:
        raise RuntimeError(f"{TARBALL_URL}: checksum {digest} is not the pinned {INTEGRITY}")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        script = archive.extractfile("package/axe.min.js").read()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(script)
    partial.replace(path)  # a half-written file is never taken for the script
    return path


if __name__ == "__main__":
    try:
        print(fetch())
    except (OSError, RuntimeError) as exc:
        sys.exit(f"error: cannot fetch axe-core {VERSION}: {exc}")
