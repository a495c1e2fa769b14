"""Concurrency against the real server (`python app.py`, use-m3 index): many feedback writers at
once lose no row, and 16 clients asking for 10 s all get answers (a request the server is too busy
for is refused with 503 and Retry-After, server/admission.py: the client waits as told and goes
on; anything else is an error)."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from app import EXAMPLE_QUESTIONS

WRITERS, POSTS_PER_WRITER = 8, 200
CLIENTS, SECONDS = 16, 10
QUESTIONS = [*EXAMPLE_QUESTIONS, "火星上有多少只猫？"]  # the chat page's examples and one the documents cannot answer


@pytest.fixture(scope="module")
def feedback_db(tmp_path_factory):
    return tmp_path_factory.mktemp("load") / "feedback.sqlite3"


@pytest.fixture(scope="module")
def server(use_m3_index, launch_app, feedback_db):
    app = launch_app({"QA_INDEX_DIR": str(use_m3_index), "QA_EMBEDDER": "use-m3", "QA_FEEDBACK_DB": str(feedback_db)})
    yield app
    app.stop()


def test_concurrent_feedback_loses_no_row(server, feedback_db):
    def writer(w: int) -> list[int]:
        ids = []
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for i in range(POSTS_PER_WRITER):
                response = http.post(
                    "/api/feedback",
                    json={
                        "rating": ("up", "down")[i % 2],
                        "question": f"writer {w} post {i}",
                        "answer": f"答案 {w}-{i} [1]",
                        "citations": [
                            {
                                "n": 1,
                                "doc": "000.txt",
                                "title": "标题",
                                "section": "一、",
                                "text": "原文。",
                                "start": 0,
                                "end": 3,
                                "quote": "原文。",
                            }
                        ],
                        "source": "widget",
                    },
                )
                assert response.status_code == 200, response.text
                ids.append(response.json()["id"])
        return ids

    with ThreadPoolExecutor(WRITERS) as pool:
        ids = [row_id for batch in pool.map(writer, range(WRITERS)) for row_id in batch]
    assert len(ids) == len(set(ids)) == WRITERS * POSTS_PER_WRITER

    # Read the database itself (while the server still has it open), not the server's word for it.
    with sqlite3.connect(f"file:{feedback_db}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT id, question, answer, rating, source FROM feedback").fetchall()
    assert len(rows) == WRITERS * POSTS_PER_WRITER
    stored = {question: (row_id, answer, rating, source) for row_id, question, answer, rating, source in rows}
    for w in range(WRITERS):
        for i in range(POSTS_PER_WRITER):
            row_id, answer, rating, source = stored[f"writer {w} post {i}"]
            assert (answer, rating, source) == (f"答案 {w}-{i} [1]", ("up", "down")[i % 2], "widget")
    assert sorted(ids) == sorted(row_id for row_id, *_ in stored.values())


def test_sixteen_clients_for_ten_seconds_get_no_errors(server):
    answered, refused, errors, lock = [0] * CLIENTS, [], [], threading.Lock()
    deadline = time.monotonic() + SECONDS

    def client(c: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            n = 0
            while time.monotonic() < deadline:
                question = QUESTIONS[(c + n) % len(QUESTIONS)]
                n += 1
                retry_after = 0
                try:
                    response = http.post("/api/ask", json={"question": question})
                    ok = response.status_code == 200 and response.json()["answer"]
                    problem = None if ok else f"{response.status_code}: {response.text[:200]}"
                    if response.status_code == 503 and response.headers.get("retry-after", "").isdigit():
                        retry_after, problem = int(response.headers["retry-after"]), None
                except (httpx.HTTPError, ValueError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                with lock:
                    if problem:
                        errors.append(problem)
                    elif retry_after:
                        refused.append(retry_after)
                    else:
                        answered[c] += 1
                time.sleep(min(retry_after, 2))  # as told, within the test's time

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(count > 0 for count in answered), answered
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
