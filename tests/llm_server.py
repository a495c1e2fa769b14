"""A real llama.cpp server with Qwen2.5-Coder-0.5B-Instruct for the LLM tests, and a small index.

scripts/setup_llm.sh provides the model and llama-cpp-python[server]; without them the tests that
use these fixtures skip, saying what is missing. The server is killed with SIGKILL: it ignores
SIGTERM while generating (docs/llm.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from config import REPO_ROOT, Config

MODEL_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_NAME = "qwen2.5-coder-0.5b-instruct"  # any name: the server serves the one model it loaded
READY_TIMEOUT_S = 120
TEST_MAX_TOKENS = 160  # keeps one answer under ~15 s on 2 cores


def model_path() -> Path:
    # GOVDOC_TEST_LLM_MODEL, not QA_*: Config rejects unknown QA_ variables.
    override = os.environ.get("GOVDOC_TEST_LLM_MODEL")
    return Path(override) if override else Config.from_env().model_cache / "models" / MODEL_FILE


def missing_requirement() -> str:
    """Why the real-LLM tests cannot run here, or "" when they can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (run scripts/setup_llm.sh)"
    if not model_path().is_file():
        return f"no model at {model_path()} (run scripts/setup_llm.sh)"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return bool(json.load(response).get("data"))
    except OSError:
        return False


@contextmanager
def running_server(log_path: Path) -> Iterator[str]:
    """Start the server on a free port, yield its base URL (…/v1), SIGKILL it afterwards."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        "2",
    ]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _ready(base_url):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"llama.cpp server did not start (exit {server.poll()}):\n{tail}")
            time.sleep(0.5)
        yield base_url
    finally:
        server.kill()  # SIGKILL: SIGTERM does not stop a generation in progress
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory) -> Iterator[str]:
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    with running_server(tmp_path_factory.mktemp("llm") / "server.log") as base_url:
        yield base_url


def build_index(index_dir: Path, seeds_dir: Path | None = None) -> Path:
    """`python -m ingest` with the light embedder (use-m3, ~10 s) into `index_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_EMBEDDER="use-m3", QA_INDEX_DIR=str(index_dir))
    if seeds_dir is not None:
        env["QA_SEEDS_DIR"] = str(seeds_dir)
    done = subprocess.run([sys.executable, "-m", "ingest"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"building the use-m3 index failed:\n{done.stderr[-2000:]}")
    return index_dir


@pytest.fixture(scope="session")
def light_index(tmp_path_factory) -> Path:
    """An index of the seed documents built with the light embedder."""
    return build_index(tmp_path_factory.mktemp("index_use_m3") / "index")


def llm_config(base_url: str, index_dir: Path | None = None, timeout: float = 120.0, api_key: str = "") -> Config:
    """Settings for the test server; the timeout is generous because other jobs may share the CPU."""
    return Config.from_env(
        {},
        index_dir=index_dir,
        embedder="use-m3",
        llm_base_url=base_url,
        llm_model=MODEL_NAME,
        llm_timeout=timeout,
        llm_api_key=api_key,
    )
