"""Shared fixtures: a small index built once per test session with the light use-m3 embedder, and
`python app.py` started in a subprocess on a free port (always stopped at the end)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.services import free_port  # noqa: E402  (shared with the benchmarks)


def sse_events(text: str) -> list[tuple[str, dict]]:
    """(event name, decoded data) of each event in a server-sent-events body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = block.split("\n")
        name = next((line[6:].strip() for line in lines if line.startswith("event:")), "message")
        data = [line[5:].removeprefix(" ") for line in lines if line.startswith("data:")]
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def env_without_qa_settings(**settings: str) -> dict[str, str]:
    """This process's environment minus any QA_* a developer has set, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(settings)
    return env


@pytest.fixture(scope="session")
def use_m3_index(tmp_path_factory) -> Path:
    """An index of seeds/ built with use-m3 (≈10 s), in a folder of this test session."""
    index_dir = tmp_path_factory.mktemp("use_m3") / "index"
    # Flags, not QA_* variables: the index must never land in the repo's own index/ by accident.
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "--index", str(index_dir), "--embedder", "use-m3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env_without_qa_settings(),
    )
    assert result.returncode == 0, f"index build failed:\n{result.stdout}\n{result.stderr}"
    assert (index_dir / "manifest.json").is_file(), result.stdout
    return index_dir


class RunningApp:
    """`python app.py` in a subprocess, its output in a log file."""

    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc, self.port, self.log_path = proc, port, log_path
        self.url = f"http://127.0.0.1:{port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def health(self, timeout: float) -> httpx.Response:
        """The first /healthz answer other than "starting" (200 ready, or 500 when the load failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"app.py exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                response = httpx.get(self.url + "/healthz", timeout=2)
                if response.status_code != 503:
                    return response
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"app.py not ready after {timeout:.0f} s:\n{self.log()[-4000:]}")

    def wait_ready(self, timeout: float) -> None:
        response = self.health(timeout)
        if response.status_code != 200:
            raise AssertionError(f"app.py could not load: {response.text[:500]}\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def spawn_app(settings: dict[str, str], log_path: Path) -> RunningApp:
    """`python app.py` on a free port with exactly these QA_* settings, its output in `log_path`;
    not waited for."""
    port = free_port()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=REPO,
            env=env_without_qa_settings(**settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return RunningApp(proc, port, log_path)


@pytest.fixture(scope="session")
def launch_app(tmp_path_factory):
    """Starts `python app.py --port <free port>` with the given QA_* settings and (`wait`) waits
    until /healthz says it is ready; every server started is stopped at the end of the session even
    if a test failed (tests may stop earlier)."""
    started: list[RunningApp] = []

    def launch(settings: dict[str, str], ready_timeout: float = 180, wait: bool = True) -> RunningApp:
        app = spawn_app(settings, tmp_path_factory.mktemp("app") / "server.log")
        started.append(app)
        if wait:
            app.wait_ready(ready_timeout)
        return app

    yield launch
    for app in started:
        app.stop()
