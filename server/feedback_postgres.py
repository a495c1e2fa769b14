"""Feedback rows in PostgreSQL (`QA_DATABASE_URL`), so that several app.py replicas share one store.

The same table as the SQLite store (server/feedback.py): the same columns, `created_at` the same
UTC ISO 8601 text, `citations` the same JSON text, so an export or a query reads either alike.

Connections come from a small pool (psycopg_pool, at most `POOL_MAX_SIZE` per process: N replicas
use at most N × 4 of the server's `max_connections`, 100 by default). Each connection is checked
before it is handed out, so one the server dropped (a restart, a failover, an idle timeout on the
way) is replaced instead of failing a request. A connection that drops during the INSERT is retried
once on a new connection: if the first INSERT had in fact committed, the rating is stored twice,
which changes nothing (the latest row for an answer is its rating), where a lost rating would.
Autocommit: each INSERT is its own transaction, durable when it returns (synchronous_commit=on,
PostgreSQL's default).

Two replicas starting together both run `CREATE TABLE IF NOT EXISTS`, which PostgreSQL does not
make safe on its own (one of them can fail on pg_type's unique index); an advisory lock held for the
transaction serialises them.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg_pool import ConnectionPool

from server.database_url import hide_passwords, redact_url
from server.feedback import ROW_COLUMNS_SQL, FeedbackUnavailable

log = logging.getLogger("govdoc_qa.server")

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 4  # feedback is a few rows a second at most; the pool bounds connections per replica
CONNECT_TIMEOUT_S = 10
WAIT_S = 10  # for a free pooled connection (or for the server to come back) before the request fails
SCHEMA_LOCK = 0x676F7664  # any fixed bigint: pg_advisory_xact_lock key for the table's creation

SCHEMA = f"CREATE TABLE IF NOT EXISTS feedback (\n    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,{ROW_COLUMNS_SQL})"
INSERT = (
    "INSERT INTO feedback (created_at, rating, source, question, answer, citations) "
    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)
SELECT_ALL = "SELECT id, created_at, rating, source, question, answer, citations FROM feedback ORDER BY id"


class PostgresFeedback:
    """The PostgreSQL half of FeedbackStore (server/feedback.py): insert, read back, count, close."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.location = redact_url(url)  # what messages show: the password is never in it
        self._url = url
        options = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, "application_name": "govdoc-qa"}
        # One connection of its own first: an unreachable server or a refused login is reported at
        # start, in libpq's words, rather than as a pool that never fills.
        try:
            with psycopg.connect(url, **options) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                conn.execute(SCHEMA)
        except psycopg.Error as exc:
            raise FeedbackUnavailable(self.describe(exc)) from None
        self._pool = ConnectionPool(
            url,
            min_size=POOL_MIN_SIZE,
            max_size=POOL_MAX_SIZE,
            kwargs=options,
            check=ConnectionPool.check_connection,
            timeout=WAIT_S,
            name="feedback",
            open=True,
        )

    def describe(self, exc: BaseException) -> str:
        """A driver error as one line, with any password of the URL hidden."""
        return hide_passwords(" ".join(str(exc).split()) or type(exc).__name__, self._url)

    def __repr__(self) -> str:
        return f"PostgresFeedback({self.location!r})"

    def insert(self, row: tuple[str, str, str, str, str, str]) -> int:
        # PostgreSQL's text cannot hold NUL, which JSON (and so the API) can carry: stored as U+FFFD.
        row = tuple(value.replace("\x00", "\ufffd") for value in row)
        for attempt in (1, 2):
            conn = None
            try:
                with self._pool.connection() as conn:
                    return int(conn.execute(INSERT, row).fetchone()[0])
            except psycopg.OperationalError as exc:
                if attempt == 2 or conn is None or not conn.broken:  # no connection at all, or not a drop
                    raise FeedbackUnavailable(self.describe(exc)) from None
                log.warning("feedback database connection lost (%s); inserting again on a new one", self.describe(exc))
        raise AssertionError("unreachable")

    def select_all(self) -> list[tuple]:
        with self._pool.connection() as conn:
            return conn.execute(SELECT_ALL).fetchall()

    def count(self) -> int:
        with self._pool.connection() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

    def close(self) -> None:
        self._pool.close()
