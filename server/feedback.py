"""👍/👎 feedback on answers, kept in SQLite so no rating is lost when many people click at once.

Each thread gets its own connection (sqlite3 connections must not be shared between threads
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
from typing import Literal

log = logging.getLogger("govdoc_qa.server")

BUSY_TIMEOUT_MS = 30_000
RATINGS = ("up", "down")
SOURCES = ("chat", "widget", "api")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,  -- UTC, ISO 8601 with milliseconds
    rating     TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    source     TEXT NOT NULL,  -- chat page, embedded widget, or a direct API call
    question   TEXT NOT NULL,
    answer     TEXT NOT NULL,
    citations  TEXT NOT NULL   -- JSON list of the answer's citations
)
"""


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
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

    def add(
        self,
        rating: Literal["up", "down"],
        question: str,
        answer: str,
        citations: list[dict],
        source: Literal["chat", "widget", "api"],
    ) -> int:
        """Store one rating; returns its row id. The row is on disk when this returns."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        conn = self._connection()
        cursor = conn.execute(
            "INSERT INTO feedback (created_at, rating, source, question, answer, citations) VALUES (?, ?, ?, ?, ?, ?)",
            (created, rating, source, question, answer, json.dumps(citations, ensure_ascii=False)),
        )
        # Into the main file now, not at SQLite's next automatic checkpoint (see the module docstring).
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
        if busy:
            log.warning("feedback row %s is committed but not yet checkpointed into %s", cursor.lastrowid, self.path)
        return int(cursor.lastrowid)

    def rows(self) -> list[dict]:
        """Every stored rating, oldest first, with citations decoded."""
        cursor = self._connection().execute(
            "SELECT id, created_at, rating, source, question, answer, citations FROM feedback ORDER BY id"
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        for row in rows:
            row["citations"] = json.loads(row["citations"])
        return rows

    def count(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

    def close(self) -> None:
        with self._opened_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()
