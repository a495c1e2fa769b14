"""Feedback in PostgreSQL (QA_DATABASE_URL) on a real server: the same rows as SQLite, nothing lost to
concurrent writers or to a dropped connection, replicas creating the table together, and a password
that never shows in an error."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest
from conftest import REPO, env_without_qa_settings, free_port
from pg_server import PASSWORD, postgres_server  # noqa: F401  (fixture)

from config import Config
from server.feedback import FeedbackStore, FeedbackUnavailable

CITATION = {"n": 1, "doc": "000.txt", "title": "标题", "quote": "段落。", "start": 0, "end": 3}


@pytest.fixture
def database_url(postgres_server):  # noqa: F811
    """The server's database with no feedback table: each test starts from nothing."""
    with postgres_server.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS feedback")
    return postgres_server.url


def test_concurrent_writes_from_many_threads_are_all_kept(database_url):
    threads, writes = 8, 50
    store = FeedbackStore(database_url=database_url)
    start_together = threading.Barrier(threads)
    failures: list[BaseException] = []

    def write_many(thread_no: int) -> None:
        try:
            start_together.wait()
            for i in range(writes):
                store.add(
                    rating="up", question=f"问题 {thread_no}-{i}", answer="回答", citations=[CITATION], source="api"
                )
        except BaseException as exc:  # noqa: BLE001  (reported below)
            failures.append(exc)

    workers = [threading.Thread(target=write_many, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    store.close()
    assert failures == []

    reopened = FeedbackStore(database_url=database_url)
    rows = reopened.rows()
    reopened.close()
    assert len(rows) == threads * writes
    assert {row["question"] for row in rows} == {f"问题 {t}-{i}" for t in range(threads) for i in range(writes)}
    assert all(row["citations"] == [CITATION] for row in rows)
    assert all(row["created_at"].endswith("+00:00") for row in rows)


def test_the_table_is_the_sqlite_one(database_url, tmp_path):
    FeedbackStore(database_url=database_url).close()
    sqlite_store = FeedbackStore(tmp_path / "feedback.sqlite3")
    sqlite_store.close()
    with sqlite3.connect(tmp_path / "feedback.sqlite3") as conn:
        sqlite_columns = [row[1] for row in conn.execute("PRAGMA table_info(feedback)")]
    import psycopg

    with psycopg.connect(database_url) as conn:
        pg_columns = [
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'feedback' ORDER BY ordinal_position"
            )
        ]
    assert pg_columns == sqlite_columns == ["id", "created_at", "rating", "source", "question", "answer", "citations"]


def test_same_row_in_both_stores(database_url, tmp_path):
    stores = [FeedbackStore(tmp_path / "feedback.sqlite3"), FeedbackStore(database_url=database_url)]
    for store in stores:
        store.add(rating="down", question="小米汽车？", answer="72万平方米。[1]", citations=[CITATION], source="widget")
    sqlite_row, pg_row = (store.rows()[0] for store in stores)
    for store in stores:
        store.close()
    assert {k: v for k, v in sqlite_row.items() if k != "created_at"} == {
        k: v for k, v in pg_row.items() if k != "created_at"
    }


def test_a_dropped_connection_is_replaced(database_url, postgres_server):  # noqa: F811
    """The server ends every connection of the store (a restart or a failover does the same); the
    next rating is stored all the same, on a new connection."""
    store = FeedbackStore(database_url=database_url)
    store.add(rating="up", question="一", answer="a", citations=[], source="api")
    with postgres_server.connect() as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'govdoc-qa'"
        ).fetchall()
    assert ended and all(ok for (ok,) in ended)
    store.add(rating="up", question="二", answer="a", citations=[], source="api")
    assert [row["question"] for row in store.rows()] == ["一", "二"]
    store.close()


def test_a_rating_waits_for_a_restarting_server(database_url, postgres_server):  # noqa: F811
    """The server stops (every connection closed) and is back 2 s later: a rating sent meanwhile
    waits for it on a new connection instead of failing."""
    store = FeedbackStore(database_url=database_url)
    store.add(rating="up", question="之前", answer="a", citations=[], source="api")
    postgres_server.stop_server()
    restart = threading.Timer(2.0, postgres_server.start_server)
    restart.start()
    try:
        store.add(rating="down", question="重启时", answer="a", citations=[], source="api")
    finally:
        restart.join()
    assert [row["question"] for row in store.rows()] == ["之前", "重启时"]
    store.close()


def test_replicas_starting_together_create_the_table_once(database_url):
    stores: list[FeedbackStore] = []
    failures: list[BaseException] = []
    start_together = threading.Barrier(6)

    def open_store() -> None:
        try:
            start_together.wait()
            stores.append(FeedbackStore(database_url=database_url))
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    openers = [threading.Thread(target=open_store) for _ in range(6)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join()
    for store in stores:
        store.close()
    assert failures == []


def test_text_postgresql_cannot_hold_is_stored_not_refused(database_url):
    store = FeedbackStore(database_url=database_url)
    store.add(rating="up", question="问\x00题", answer="a", citations=[{"quote": "x\x00"}], source="api")
    [row] = store.rows()
    store.close()
    assert row["question"] == "问\ufffd题" and row["citations"] == [{"quote": "x\x00"}]  # JSON escapes its NUL


def test_unknown_rating_is_refused_before_the_database(database_url):
    store = FeedbackStore(database_url=database_url)
    with pytest.raises(ValueError, match="rating"):
        store.add(rating="meh", question="q", answer="a", citations=[], source="api")
    assert store.count() == 0
    store.close()


def test_wrong_password_or_no_server_is_one_line_without_the_password(postgres_server):  # noqa: F811
    wrong = postgres_server.url.replace("%40", "%40x", 1)  # another password
    closed = postgres_server.url.replace(f":{postgres_server.port}/", f":{free_port()}/")
    for url, reason in ((wrong, "password authentication failed"), (closed, "refused")):
        config = Config.from_env({"QA_DATABASE_URL": url})
        with pytest.raises(FeedbackUnavailable) as caught:
            FeedbackStore.from_config(config)
        message = str(caught.value)
        assert message.startswith("cannot open the feedback database postgresql://govdoc:***@127.0.0.1:")
        assert reason in message and "\n" not in message
        assert "s3cret" not in message and PASSWORD not in message


def test_app_refuses_to_start_without_its_database_and_hides_the_password(postgres_server, tmp_path):  # noqa: F811
    url = postgres_server.url.replace(f":{postgres_server.port}/", f":{free_port()}/")  # nothing listens there
    result = subprocess.run(
        [sys.executable, "app.py", "--port", str(free_port())],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env_without_qa_settings(QA_DATABASE_URL=url, QA_INDEX_DIR=str(tmp_path / "no-index")),
    )
    assert result.returncode == 2, result.stderr
    assert "cannot open the feedback database postgresql://govdoc:***@127.0.0.1:" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout and "Traceback" not in result.stderr
