"""👍/👎 feedback on answers: one FeedbackStore, its rows kept in SQLite (the default, nothing to set
up) or in PostgreSQL (`QA_DATABASE_URL`, for several app.py replicas sharing one database).

FeedbackStore checks a rating once (rating and source from fixed lists; the request model bounds
every text field before it gets here), stamps it with the UTC time, encodes the citations as JSON
and hands the row to one of two small stores of the same `feedback` table:

- `SQLiteFeedback` (below): a file on this machine, `QA_FEEDBACK_DB`;
- `PostgresFeedback` (server/feedback_postgres.py): a PostgreSQL database, a small connection pool
  per process, reconnecting after a dropped connection.

A store that cannot be reached raises FeedbackUnavailable (the API answers 503 with Retry-After).

SQLite: each thread gets its own connection (sqlite3 connections must not be shared between threads
without a lock). WAL mode lets readers and the writer proceed together; `busy_timeout` makes a
writer wait for the write lock instead of failing with "database is locked"; synchronous=FULL makes
each committed row survive a power cut, not only a crash of this process.

Every committed row is also in feedback.sqlite3 itself when `add` returns, so a backup that copies
that one file (cp, rsync, a volume snapshot) has every row: in WAL mode a commit lands in
feedback.sqlite3-wal, and only a checkpoint copies it into the main file (SQLite's automatic one
waits for 1,000 pages, so such a copy used to be empty). Hence a FULL checkpoint after each insert,
rather than the rollback journal (journal_mode=DELETE, rows in the main file at commit), which
would make readers block the writer: 8 threads writing 1,600 rows took 1.5 s with WAL + checkpoint
against 13 s with DELETE on this machine. If a checkpoint cannot finish within
`busy_timeout` (a reader holding an old snapshot that long), the row is still committed in the WAL
and the next write's checkpoint copies it; that is logged.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from server.database_url import redact_url

if TYPE_CHECKING:
    from config import Config

log = logging.getLogger("govdoc_qa.server")

BUSY_TIMEOUT_MS = 30_000
RATINGS = ("up", "down")
SOURCES = ("chat", "widget", "api")
COLUMNS = ("id", "created_at", "rating", "source", "question", "answer", "citations")

# The columns after `id`, the same in SQLite and PostgreSQL (server/feedback_postgres.py), so an
# export or a query reads either store alike; each store writes its own kind of `id` before them.
ROW_COLUMNS_SQL = """
    created_at TEXT NOT NULL,  -- UTC, ISO 8601 with milliseconds
    rating     TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    source     TEXT NOT NULL,  -- chat page, embedded widget, or a direct API call
    question   TEXT NOT NULL,
    answer     TEXT NOT NULL,
    citations  TEXT NOT NULL   -- JSON list of the answer's citations
"""
_SCHEMA = f"CREATE TABLE IF NOT EXISTS feedback (\n    id         INTEGER PRIMARY KEY AUTOINCREMENT,{ROW_COLUMNS_SQL})"


class FeedbackUnavailable(Exception):
    """The feedback database cannot be opened or reached now; the message says why (never a password)."""


class RowStore(Protocol):
    """What each of the two stores provides; a row is (created_at, rating, source, question, answer, citations)."""

    name: str  # "sqlite" or "postgresql"
    location: str  # where the rows are, safe to show (no password)

    def insert(self, row: tuple[str, str, str, str, str, str]) -> int: ...
    def select_all(self) -> list[tuple]: ...  # COLUMNS, oldest first
    def count(self) -> int: ...
    def close(self) -> None: ...


class FeedbackStore:
    """`FeedbackStore(path)`: SQLite at `path`; `FeedbackStore(database_url="postgresql://…")`:
    PostgreSQL; `FeedbackStore.from_config(config)`: whichever the configuration names."""

    def __init__(self, path: Path | None = None, *, database_url: str = "") -> None:
        if database_url:
            from server.feedback_postgres import PostgresFeedback  # psycopg loads only when used

            self.backend: RowStore = PostgresFeedback(database_url)
        elif path is not None:
            self.backend = SQLiteFeedback(Path(path))
        else:
            raise ValueError("FeedbackStore needs a SQLite file path or a PostgreSQL URL")

    @classmethod
    def from_config(cls, config: Config) -> FeedbackStore:
        """PostgreSQL at QA_DATABASE_URL if it is set, else SQLite at QA_FEEDBACK_DB. If it cannot be
        opened, FeedbackUnavailable says which database and why, in one line."""
        url = config.database_url
        location = redact_url(url) if url else str(config.feedback_db)
        try:
            return cls(config.feedback_db, database_url=url)
        except (FeedbackUnavailable, OSError, sqlite3.Error) as exc:
            raise FeedbackUnavailable(f"cannot open the feedback database {location}: {exc}") from None

    @property
    def location(self) -> str:
        return self.backend.location

    def __repr__(self) -> str:
        return f"FeedbackStore({self.backend.name}: {self.location})"

    def add(
        self,
        rating: Literal["up", "down"],
        question: str,
        answer: str,
        citations: list[dict],
        source: Literal["chat", "widget", "api"],
    ) -> int:
        """Store one rating; returns its row id. The row is durable when this returns."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        row = (created, rating, source, question, answer, json.dumps(citations, ensure_ascii=False))
        return self.backend.insert(row)

    def rows(self) -> list[dict]:
        """Every stored rating, oldest first, with citations decoded."""
        rows = [dict(zip(COLUMNS, values, strict=True)) for values in self.backend.select_all()]
        for row in rows:
            row["citations"] = json.loads(row["citations"])
        return rows

    def count(self) -> int:
        return self.backend.count()

    def close(self) -> None:
        self.backend.close()


class SQLiteFeedback:
    """The SQLite half of FeedbackStore: one file, one connection per thread (see the module docstring)."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []  # every thread's connection, so close() reaches all
        self._opened_lock = threading.Lock()
        self._connection().execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: each INSERT is its own transaction, committed when it returns.
            # check_same_thread=False only so that close() may close it from another thread.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._opened_lock:
                self._opened.append(conn)
        return conn

    def insert(self, row: tuple[str, str, str, str, str, str]) -> int:
        conn = self._connection()
        try:
            cursor = conn.execute(
                "INSERT INTO feedback (created_at, rating, source, question, answer, citations) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk full, file gone
            raise FeedbackUnavailable(f"{self.path}: {exc}") from None
        # Into the main file now, not at SQLite's next automatic checkpoint (see the module docstring).
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
        if busy:
            log.warning("feedback row %s is committed but not yet checkpointed into %s", cursor.lastrowid, self.path)
        return int(cursor.lastrowid)

    def select_all(self) -> list[tuple]:
        return self._connection().execute(f"SELECT {', '.join(COLUMNS)} FROM feedback ORDER BY id").fetchall()

    def count(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

    def close(self) -> None:
        with self._opened_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()


if __name__ == "__main__":  # python -m server.feedback export|backup --out FILE (server/feedback_export.py)
    from server.feedback_export import main

    raise SystemExit(main())
