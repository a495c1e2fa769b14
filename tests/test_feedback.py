"""server.feedback: ratings survive many simultaneous writers and a reopen, and bad values are refused."""

from __future__ import annotations

import shutil
import sqlite3
import threading

import pytest

from server.feedback import FeedbackStore, FeedbackUnavailable

THREADS = 8
WRITES_PER_THREAD = 200
CITATION = {
    "n": 1,
    "doc": "000.txt",
    "title": "标题",
    "section": "标题 › 一、",
    "text": "段落。",
    "start": 0,
    "end": 3,
    "quote": "段落。",
    "passage_start": 0,
    "passage_end": 3,
}


def test_concurrent_writes_are_all_kept(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    start_together = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def write_many(thread_no: int) -> None:
        try:
            start_together.wait()
            for i in range(WRITES_PER_THREAD):
                store.add(
                    rating="up" if i % 2 else "down",
                    question=f"问题 {thread_no}-{i}",
                    answer=f"回答 {i}",
                    citations=[CITATION],
                    source="api",
                )
        except BaseException as exc:  # noqa: BLE001  (reported below, with the thread's failure)
            failures.append(exc)

    threads = [threading.Thread(target=write_many, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    store.close()

    reopened = FeedbackStore(tmp_path / "feedback.sqlite3")
    rows = reopened.rows()
    reopened.close()
    assert len(rows) == THREADS * WRITES_PER_THREAD
    expected = {f"问题 {t}-{i}" for t in range(THREADS) for i in range(WRITES_PER_THREAD)}
    assert {row["question"] for row in rows} == expected
    assert all(row["citations"] == [CITATION] for row in rows)


def test_a_copy_of_the_database_file_alone_has_every_committed_row(tmp_path):
    """A backup that copies feedback.sqlite3 and nothing else, taken while the server runs."""
    path = tmp_path / "live" / "feedback.sqlite3"
    store = FeedbackStore(path)
    row_id = store.add(rating="up", question="小米汽车？", answer="72万平方米。[1]", citations=[CITATION], source="api")
    backup = tmp_path / "backup" / "feedback.sqlite3"
    backup.parent.mkdir()
    shutil.copyfile(path, backup)  # while the store is open, as a backup of a running server would
    assert list(backup.parent.iterdir()) == [backup]  # no -wal beside it
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT id, question FROM feedback").fetchall() == [(row_id, "小米汽车？")]
    store.close()


def test_database_uses_write_ahead_logging(tmp_path):
    path = tmp_path / "feedback.sqlite3"
    FeedbackStore(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_row_keeps_question_answer_citations_and_time(tmp_path):
    store = FeedbackStore(tmp_path / "deeper" / "feedback.sqlite3")  # the folder is created
    row_id = store.add(
        rating="down", question="小米汽车？", answer="72万平方米。[1]", citations=[CITATION], source="chat"
    )
    [row] = store.rows()
    store.close()
    assert row["id"] == row_id
    assert (row["rating"], row["source"], row["question"], row["answer"]) == (
        "down",
        "chat",
        "小米汽车？",
        "72万平方米。[1]",
    )
    assert row["citations"] == [CITATION]
    assert row["created_at"].endswith("+00:00")


@pytest.mark.parametrize("field, value", [("rating", "meh"), ("source", "email")])
def test_unknown_rating_or_source_is_refused(tmp_path, field, value):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    arguments = {"rating": "up", "question": "q", "answer": "a", "citations": [], "source": "api", field: value}
    with pytest.raises(ValueError, match=field):
        store.add(**arguments)
    assert store.count() == 0
    store.close()


def test_a_store_that_cannot_be_reached_is_a_503_with_retry_after():
    """The database is down (PostgreSQL restarting, SQLite locked past its timeout): the client is
    told to try again, in the project's error shape, and nothing about the database leaks."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from server.errors import add_error_handlers

    app = FastAPI()
    add_error_handlers(app)

    @app.post("/api/feedback")
    def post_feedback() -> dict:
        raise FeedbackUnavailable("postgresql://govdoc:***@db:5432/govdoc: connection refused")

    response = TestClient(app).post("/api/feedback")
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json() == {"error": "the feedback could not be stored just now; please try again", "errors": []}


def test_without_a_database_url_the_store_is_sqlite(tmp_path):
    from config import Config

    config = Config.from_env({"QA_FEEDBACK_DB": str(tmp_path / "f.sqlite3")})
    store = FeedbackStore.from_config(config)
    assert store.backend.name == "sqlite" and store.location == str(tmp_path / "f.sqlite3")
    store.close()
    with pytest.raises(FeedbackUnavailable, match=r"cannot open the feedback database /dev/null/x\.sqlite3"):
        FeedbackStore.from_config(Config.from_env({"QA_FEEDBACK_DB": "/dev/null/x.sqlite3"}))
