"""Two `python app.py` replicas behind a real nginx (the config of docs/deploy.md, as written there)
with feedback in a real PostgreSQL server, all on loopback. Eight clients ask questions and rate the
answers through nginx for about ten seconds; one replica is killed with SIGKILL midway. Then:

- every /api/ask succeeded: nginx resends a question to the other replica, whether the dead one
  refused the connection or died with the question in hand (an answer only reads: non_idempotent);
- every rating answered with 200 is a row in PostgreSQL (0 lost), and only a rating in flight on the
  dead replica at the kill may have failed (a POST that reached a replica is never resent);
- the survivor keeps answering, alone, to the end and after.

Needs Debian's `postgresql` and `nginx` (scripts/setup.sh installs both); skips, saying so, without them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import RunningApp, spawn_app
from pg_server import postgres_server  # noqa: F401  (fixture)

from app import EXAMPLE_QUESTIONS
from bench.services import Nginx, nginx_program

pytestmark = pytest.mark.slow

CLIENTS = 8
LOAD_S = 10.0
KILL_AFTER_S = 4.0
QUESTIONS = EXAMPLE_QUESTIONS  # the chat page's examples: questions the seeds answer


@dataclass
class Call:
    kind: str  # "ask" or "feedback"
    started: float
    ended: float
    status: int  # 0: no HTTP response at all
    detail: str = ""
    question: str = ""
    row_id: int | None = None


def start_replica(index_dir: Path, database_url: str, folder: Path, name: str) -> RunningApp:
    settings = {"QA_INDEX_DIR": str(index_dir), "QA_EMBEDDER": "use-m3", "QA_DATABASE_URL": database_url}
    return spawn_app(settings, folder / f"replica-{name}.log")


def client_loop(base: str, client_no: int, stop_at: float, calls: list[Call], lock: threading.Lock) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        i = 0
        while time.monotonic() < stop_at:
            question = QUESTIONS[(client_no + i) % len(QUESTIONS)]
            started = time.monotonic()
            try:
                response = client.post("/api/ask", json={"question": question})
                ask = Call("ask", started, time.monotonic(), response.status_code, response.text[:200])
            except httpx.HTTPError as exc:
                ask = Call("ask", started, time.monotonic(), 0, repr(exc))
            with lock:
                calls.append(ask)
            if ask.status == 200:
                answer = response.json()
                rated = f"{question} #{client_no}-{i}"  # one distinct question per rating, to find its row
                body = {
                    "rating": "up" if i % 2 else "down",
                    "question": rated,
                    "answer": answer["answer"] or "—",
                    "citations": answer["citations"],
                    "source": "api",
                }
                started = time.monotonic()
                try:
                    response = client.post("/api/feedback", json=body)
                    row_id = response.json().get("id") if response.status_code == 200 else None
                    rating = Call("feedback", started, time.monotonic(), response.status_code, response.text[:200])
                    rating.row_id = row_id
                except httpx.HTTPError as exc:
                    rating = Call("feedback", started, time.monotonic(), 0, repr(exc))
                rating.question = rated
                with lock:
                    calls.append(rating)
            i += 1


def test_replicas_behind_nginx_survive_a_killed_replica(
    use_m3_index,
    postgres_server,  # noqa: F811
    tmp_path,
):
    program = nginx_program()
    if program is None:
        pytest.skip("nginx not found: apt-get install nginx (scripts/setup.sh does)")

    replicas = [start_replica(use_m3_index, postgres_server.url, tmp_path, str(n)) for n in range(2)]
    nginx = None
    try:
        for replica in replicas:
            replica.wait_ready(180)
        nginx = Nginx(program, [r.port for r in replicas])  # the documented config (bench/services.py)
        nginx.wait_ready()
        for question in QUESTIONS[:2]:  # both replicas have answered once before the clock starts
            assert httpx.post(nginx.url + "/api/ask", json={"question": question}, timeout=30).status_code == 200

        calls: list[Call] = []
        lock = threading.Lock()
        began = time.monotonic()
        stop_at = began + LOAD_S
        clients = [
            threading.Thread(target=client_loop, args=(nginx.url, n, stop_at, calls, lock)) for n in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        time.sleep(KILL_AFTER_S)
        victim, survivor = replicas
        with lock:
            before_kill = len(calls)
        killed_at = time.monotonic()
        victim.proc.kill()  # SIGKILL: no graceful shutdown, requests in progress die with it
        for client in clients:
            client.join(timeout=LOAD_S + 60)
        assert not any(client.is_alive() for client in clients), "a client hung"
        assert victim.proc.wait(timeout=10) == -9

        asks = [c for c in calls if c.kind == "ask"]
        ratings = [c for c in calls if c.kind == "feedback"]
        failed_asks = [c for c in asks if c.status != 200]
        assert failed_asks == [], f"questions failed through nginx: {failed_asks[:5]}\n{nginx.error_log()}"
        assert before_kill >= CLIENTS, f"only {before_kill} calls before the kill: the load never got going"

        # Every rating answered 200 is in PostgreSQL, under the id the client was given.
        with postgres_server.connect() as conn:
            stored = dict(conn.execute("SELECT question, id FROM feedback").fetchall())
        accepted = [c for c in ratings if c.status == 200]
        lost = [c for c in accepted if stored.get(c.question) != c.row_id]
        assert accepted and lost == [], f"{len(lost)} of {len(accepted)} accepted ratings not in the database"
        # Only a rating that was in flight on the killed replica may have failed: with nginx's own 503,
        # or cut off (status 0) when the replica died after its headers had gone out, which nginx
        # cannot retry. Either way the client got no acknowledgement, so nothing it was told is lost.
        failed_ratings = [c for c in ratings if c.status != 200]
        assert len(failed_ratings) <= CLIENTS, failed_ratings
        for call in failed_ratings:
            assert call.started < killed_at + 1.0 and call.status in (503, 0), call

        # The survivor answered, alone, after the kill, and still does.
        after = [c for c in asks if c.started > killed_at + 1.0]
        assert len(after) >= CLIENTS, f"only {len(after)} questions answered after the kill"
        victim_address = f"127.0.0.1:{victim.port}"
        log = nginx.access_log()
        first_tries = [line for line in log if "/api/ask" in line and f"[{victim_address}" in line]
        assert first_tries, "the victim never answered a question: nothing was tested"
        retried = [line for line in log if "/api/ask" in line and ", 127.0.0.1:" in line]
        assert retried, "nginx never had to pass a question on: the kill went unnoticed"
        response = httpx.post(nginx.url + "/api/ask", json={"question": QUESTIONS[0]}, timeout=30)
        assert response.status_code == 200 and response.json()["citations"]
        assert httpx.get(survivor.url + "/healthz", timeout=5).status_code == 200
        print(
            f"\n{len(asks)} questions ({len(after)} after the kill), {len(accepted)} ratings stored, "
            f"{len(failed_ratings)} ratings refused at the kill, {len(retried)} requests passed on by nginx"
        )
    finally:
        if nginx is not None:
            nginx.stop()
        for replica in replicas:
            replica.stop()
