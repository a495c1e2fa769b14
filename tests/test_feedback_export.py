"""Backups of the feedback store (issue 13 point 5): export to JSON Lines and CSV, and a whole copy
of the SQLite file through SQLite's backup API, also while the store keeps its connection open."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest

from server.feedback import FeedbackStore
from server.feedback_export import backup_sqlite, export_rows, main

CITATION = {"n": 1, "doc": "000_f07e5012fceaca9b.txt", "quote": "马驹桥镇域面积82平方公里"}


@pytest.fixture
def store(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    store.add("up", "马驹桥镇的面积是多少？", "马驹桥镇域面积82平方公里[1]", [CITATION], "chat")
    store.add("down", "小米汽车的年产能？", "预计年产能将达到20万辆[1]", [], "widget")
    yield store
    store.close()


def test_export_jsonl_has_every_row_with_citations_decoded(store, tmp_path):
    out = tmp_path / "out" / "ratings.jsonl"
    assert export_rows(store, out, "jsonl") == 2
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["rating"] for r in rows] == ["up", "down"]
    assert rows[0]["citations"] == [CITATION] and rows[0]["question"] == "马驹桥镇的面积是多少？"
    assert not list(out.parent.glob(".*.tmp"))  # the temporary file was renamed, not left behind


def test_export_csv_keeps_chinese_text_and_citations_as_json(store, tmp_path):
    out = tmp_path / "ratings.csv"
    assert export_rows(store, out, "csv") == 2
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[1]["answer"] == "预计年产能将达到20万辆[1]" and rows[1]["source"] == "widget"
    assert json.loads(rows[0]["citations"]) == [CITATION]


def test_backup_while_the_store_is_open_is_a_complete_database(store, tmp_path):
    store.add("up", "第三条", "答", [], "api")  # committed while the store's connection stays open
    copy = tmp_path / "copy.sqlite3"
    assert backup_sqlite(store.backend.path, copy) == 3
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT question FROM feedback ORDER BY id").fetchall()[-1] == ("第三条",)


def test_cli_export_and_backup_from_the_configured_store(store, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QA_FEEDBACK_DB", str(store.backend.path))
    monkeypatch.delenv("QA_DATABASE_URL", raising=False)
    assert main(["export", "--out", str(tmp_path / "r.csv")]) == 0
    assert "2 ratings" in capsys.readouterr().out
    assert (tmp_path / "r.csv").read_text(encoding="utf-8").startswith("id,created_at,rating")
    assert main(["backup", "--out", str(tmp_path / "b.sqlite3")]) == 0


def test_cli_refuses_a_missing_database_and_a_backup_of_postgresql(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QA_FEEDBACK_DB", str(tmp_path / "none.sqlite3"))
    monkeypatch.delenv("QA_DATABASE_URL", raising=False)
    assert main(["backup", "--out", str(tmp_path / "b.sqlite3")]) == 2
    assert "no feedback database" in capsys.readouterr().err
    monkeypatch.setenv("QA_DATABASE_URL", "postgresql://qa@127.0.0.1:1/qa")
    assert main(["backup", "--out", str(tmp_path / "b.sqlite3")]) == 2
    assert "use export" in capsys.readouterr().err
    assert not (tmp_path / "b.sqlite3").exists()
