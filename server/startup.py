"""Getting the question answerer ready: build the index on first start, then load it once.

Failures a person can fix (no seeds folder, a damaged index, an index built with another
embedder) come back as `StartupError` with the message to print; `python app.py` exits non-zero
with that message and no traceback.
"""

from __future__ import annotations

from collections.abc import Callable

from config import Config
from store.index_files import IndexUnusableError


class StartupError(Exception):
    pass


def check_serving_config(config: Config) -> None:
    """The settings only the server uses, checked before anything slow starts."""
    if not 0 < config.port < 65536:
        raise StartupError(f"port {config.port} is out of range (1-65535)")
    root = config.root_path
    if root and (not root.startswith("/") or root.endswith("/")):
        raise StartupError(f"QA_ROOT_PATH={root!r} must start with '/' and not end with it, e.g. /qa")
    for origin in config.allowed_origins:
        if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
            raise StartupError(
                f"QA_ALLOWED_ORIGINS entry {origin!r} is not an origin such as "
                "https://www.example.gov.cn (scheme and host, optional port, no path)"
            )


def index_exists(config: Config) -> bool:
    # The manifest is written last, so its presence means a complete index (or a damaged one,
    # which QA.load reports precisely); its absence means nothing was ever built here.
    return (config.index_dir / "manifest.json").is_file()


def ensure_index(config: Config, log: Callable[[str], None] = print) -> None:
    if index_exists(config):
        return
    from ingest.build import build_index

    log(
        f"no index at {config.index_dir}: building it from {config.seeds_dir} "
        f"with embedder {config.embedder} (first start only)"
    )
    try:
        summary = build_index(config, log=log)
    except FileNotFoundError as exc:
        raise StartupError(f"cannot build the index: {exc}") from None
    if not summary.documents:
        raise StartupError(f"cannot build the index: no documents found in {config.seeds_dir}")
    log(summary.describe())


def load_qa(config: Config, log: Callable[[str], None] = print):
    """The QA object (index + embedding model), built first if there is no index yet."""
    from embedding.model_fetch import ModelFetchError

    try:
        ensure_index(config, log)
        from answering.pipeline import QA

        return QA.load(config)
    except (IndexUnusableError, ModelFetchError) as exc:  # one clear line, never a traceback
        raise StartupError(str(exc).splitlines()[0]) from None
