"""Backups of the feedback store: `python -m server.feedback export|backup …`.

    python -m server.feedback export --out ratings.jsonl          # every rating, JSON Lines
    python -m server.feedback export --out ratings.csv            # the same as CSV (by the suffix)
    python -m server.feedback backup --out feedback-copy.sqlite3  # SQLite: a whole, consistent copy

Both read the store the configuration names (QA_DATABASE_URL, else QA_FEEDBACK_DB), while the app
keeps running. `export` reads every row in one query, which SQLite and PostgreSQL each answer from
one consistent snapshot, so a rating added meanwhile is either wholly in the file or not at all.
`backup` uses SQLite's online backup API, which copies the database page by page under its own
lock, with what is still in the write-ahead log included: unlike copying `feedback.sqlite3` with
cp, the copy is complete. (For PostgreSQL use `export`, or pg_dump.) Either writes to a temporary
file beside `--out` and renames it into place, so a half-written backup never has the final name.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import sys
from pathlib import Path

from server.feedback import COLUMNS, FeedbackStore, FeedbackUnavailable

FORMATS = ("jsonl", "csv")


def export_rows(store: FeedbackStore, out: Path, fmt: str) -> int:
    """Every rating of `store`, oldest first, written to `out` as JSON Lines or CSV (citations as
    a JSON string in CSV); returns the number of rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    rows = store.rows()
    with _replacing(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        if fmt == "jsonl":
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow(
                    [json.dumps(row[c], ensure_ascii=False) if c == "citations" else row[c] for c in COLUMNS]
                )
    return len(rows)


def backup_sqlite(database: Path, out: Path) -> int:
    """A complete copy of the SQLite feedback file at `out` (SQLite's online backup API); returns
    the number of rows in the copy."""
    database = Path(database)
    if not database.is_file():
        raise FileNotFoundError(f"no feedback database at {database}")
    with _replacing(out) as tmp:
        source = sqlite3.connect(database.resolve().as_uri() + "?mode=ro", uri=True)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)
            count = int(target.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
        finally:
            target.close()
            source.close()
    return count


class _replacing:
    """A temporary path beside `out`, renamed to `out` when the block succeeds, removed if it fails."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.tmp = self.out.with_name(f".{self.out.name}.{os.getpid()}.tmp")

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            os.replace(self.tmp, self.out)
        else:
            self.tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    from config import Config

    parser = argparse.ArgumentParser(prog="python -m server.feedback", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="every rating to a JSON Lines or CSV file")
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--format", choices=FORMATS, help="default: from the suffix of --out (.csv, else jsonl)")
    backup = commands.add_parser("backup", help="a complete copy of the SQLite feedback database")
    backup.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
        if args.command == "backup":
            if config.database_url:
                raise ValueError("backup copies the SQLite file; with QA_DATABASE_URL set, use export (or pg_dump)")
            count = backup_sqlite(config.feedback_db, args.out)
        else:
            fmt = args.format or ("csv" if args.out.suffix.lower() == ".csv" else "jsonl")
            store = FeedbackStore.from_config(config)
            try:
                count = export_rows(store, args.out, fmt)
            finally:
                store.close()
    except (FeedbackUnavailable, ValueError, OSError, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{count} ratings -> {args.out}")
    return 0
