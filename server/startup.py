"""Getting the question answerer ready: build the index on first start, then load it once.

Failures a person can fix (no seeds folder, a damaged index, an index built with another
embedder) come back as `StartupError` with the message to print.

`python app.py` serves at once and loads in the background (issue 14 point 4): `QAHolder` holds
the QA object once `load_qa` has made it. Until then `get()` raises `Starting` (the API answers
503 with Retry-After, /healthz `{"status": "starting"}`); if the load fails, `StartupFailed` with
the StartupError's one-line message (logged and printed as `error: …`; the API and /healthz
answer 500 with it, and the chat page shows it).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

from config import Config
from store.index_files import IndexUnusableError

log = logging.getLogger("govdoc_qa.server")

STARTING_RETRY_AFTER_S = 3  # the ONNX model and a seeds-sized index load in about 2 s


class StartupError(Exception):
    pass


class Starting(Exception):
    """The index and the model are still loading."""

    def __init__(self) -> None:
        super().__init__("the server is starting (loading the index and the model); try again in a few seconds")


class StartupFailed(Exception):
    """The index or the model could not be loaded; the message says why and what to do."""


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


# Asked once, before the server says it is ready: the first answer of a process loads the word
# segmenter's dictionary and fills caches (about 1 s), which no visitor should wait for, and which
# would make admission control (server/admission.py) think every answer takes that long.
WARM_UP_QUESTIONS = ("这些文件的主要内容是什么？", "What do these documents say?")


def warmed_up(qa):
    """`qa`, having answered WARM_UP_QUESTIONS (extractively: no LLM call); a failure here is only logged."""
    for question in WARM_UP_QUESTIONS:
        try:
            qa.ask(question, generate=False)
        except Exception:
            log.warning("warm-up question %r failed", question, exc_info=True)
    return qa


class QAHolder:
    """The QA object, ready now (`QAHolder.of(qa)`) or once a background load has finished
    (`start(load)`). `get()` returns it, or raises Starting / StartupFailed."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._qa = None
        self._error: str | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, qa) -> QAHolder:
        """`qa` itself when it is a holder, else a holder that is ready with it."""
        if isinstance(qa, QAHolder):
            return qa
        holder = cls()
        holder._set(qa, None)
        return holder

    def start(self, load: Callable[[], object]) -> threading.Thread:
        """Runs `load()` in a daemon thread; its result, or its failure, is what `get()` gives."""

        def run() -> None:
            try:
                qa = load()
            except StartupError as exc:
                self._fail(str(exc))
            except BaseException as exc:  # unexpected (never "starting" forever): the traceback goes to the log
                log.exception("loading the index and the model failed")
                self._fail(f"loading the index and the model failed: {type(exc).__name__}: {exc}".splitlines()[0])
            else:
                self._set(qa, None)
                log.info("index and model loaded: ready to answer")

        log.info("loading the index and the model in the background (/healthz: starting)")
        self._thread = threading.Thread(target=run, name="load-qa", daemon=True)
        self._thread.start()
        return self._thread

    @property
    def loading(self) -> bool:
        """True while a background load is running."""
        return self._thread is not None and self._thread.is_alive()

    def _fail(self, message: str) -> None:
        log.error("cannot answer questions: %s", message)
        print(f"error: {message}", file=sys.stderr, flush=True)
        self._set(None, message)

    def _set(self, qa, error: str | None) -> None:
        self._qa, self._error = qa, error
        self._done.set()

    @property
    def state(self) -> str:
        """`starting`, `ready` or `failed`."""
        if not self._done.is_set():
            return "starting"
        return "failed" if self._error is not None else "ready"

    @property
    def error(self) -> str | None:
        return self._error

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the load has ended (ready or failed) or `timeout` passes; True if it ended."""
        return self._done.wait(timeout)

    def get(self):
        if not self._done.is_set():
            raise Starting()
        if self._error is not None:
            raise StartupFailed(self._error)
        return self._qa
