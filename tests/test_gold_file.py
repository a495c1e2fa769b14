"""Sanity checks for the hand-written evaluation sets eval/gold.jsonl and eval/followups.jsonl.

Every evidence quote must be a verbatim span of its seed file (004 after removing the pinyin
annotations), and every must_include string must occur in the item's quotes, so a scorer can
trust them.
"""
from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.clean import strip_pinyin_annotations  # noqa: E402

SEEDS = ROOT / "seeds"
GOLD = ROOT / "eval" / "gold.jsonl"
FOLLOWUPS = ROOT / "eval" / "followups.jsonl"

LANGS = {"zh-Hans", "zh-Hant", "en"}
TYPES = {"fact", "number", "table", "list", "multi_doc", "paraphrase", "unanswerable"}
KEYS = {"id", "question", "lang", "type", "answer", "must_include", "evidence"}
PINYIN_DOC = "004_24c4d525af6cbe55.txt"


def load(path: Path) -> list[dict]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                pytest.fail(f"{path.name} line {n}: invalid JSON ({e})")
    return items


@lru_cache(maxsize=None)
def seed_text(doc: str) -> str:
    text = (SEEDS / doc).read_text(encoding="utf-8")
    if doc == PINYIN_DOC:
        text = strip_pinyin_annotations(text)
        if isinstance(text, tuple):  # rule form: (text, times_fired)
            text = text[0]
    return text


GOLD_ITEMS = load(GOLD)
FOLLOWUP_ITEMS = load(FOLLOWUPS)
ALL_ITEMS = GOLD_ITEMS + FOLLOWUP_ITEMS


def test_counts():
    by_type = lambda t: [i for i in GOLD_ITEMS if i.get("type") == t]  # noqa: E731
    assert len(GOLD_ITEMS) >= 80
    assert len(FOLLOWUP_ITEMS) >= 15
    assert len(by_type("table")) >= 8
    assert len(by_type("multi_doc")) >= 6
    assert 8 <= len(by_type("unanswerable")) <= 15


def test_ids_unique():
    ids = [i.get("id") for i in ALL_ITEMS]
    dupes = sorted({x for x in ids if ids.count(x) > 1})
    assert not dupes, f"duplicate ids: {dupes}"


@pytest.mark.parametrize("item", ALL_ITEMS, ids=lambda i: str(i.get("id")))
def test_item(item):
    iid = item.get("id")
    keys = KEYS | ({"first_question", "standalone"} if str(iid).startswith("f") else set())
    assert keys <= item.keys(), f"{iid}: missing keys {sorted(keys - item.keys())}"
    assert item["lang"] in LANGS, f"{iid}: bad lang {item['lang']!r}"
    assert item["type"] in TYPES, f"{iid}: bad type {item['type']!r}"
    assert item["question"].strip(), f"{iid}: empty question"
    evidence, must = item["evidence"], item["must_include"]

    if item["type"] == "unanswerable":
        assert not evidence and not must, f"{iid}: unanswerable item must have no evidence/must_include"
        return
    assert evidence and must, f"{iid}: answerable item needs evidence and must_include"

    min_len = 2 if item["type"] == "table" else 15
    for ev in evidence:
        doc, quote = ev["doc"], ev["quote"]
        assert (SEEDS / doc).is_file(), f"{iid}: unknown doc {doc}"
        assert min_len <= len(quote) <= 80, f"{iid}: quote length {len(quote)}: {quote!r}"
        assert "\n" not in quote, f"{iid}: quote crosses a line break: {quote!r}"
        assert quote in seed_text(doc), f"{iid}: quote not found in {doc}: {quote!r}"

    quotes = "".join(ev["quote"] for ev in evidence)
    for m in must:
        assert m in quotes, f"{iid}: must_include {m!r} not in its quotes"

    if item["type"] == "multi_doc":
        assert len({ev["doc"] for ev in evidence}) >= 2, f"{iid}: multi_doc needs evidence from 2 docs"
