"""Sanity checks for the hand-written evaluation sets eval/gold.jsonl and eval/followups.jsonl.

Every evidence quote must be a verbatim span of its seed file (as stored, or for 004 after removing
the pinyin annotations) and, compared the way eval/score.py compares (eval.normalize.normalise:
pinyin ruby, spacing and punctuation dropped, traditional folded to simplified), occur in the
cleaned text the index holds; every must_include string must occur (normalised) in the item's
quotes, so a scorer can trust them. A short quote (a document number, a date) must occur only once
in its document, so that "a passage covers the quote" still points at one place.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.normalize import contains_normalised, normalise  # noqa: E402
from eval.split import select  # noqa: E402
from ingest.clean import strip_pinyin_annotations  # noqa: E402

SEEDS = ROOT / "seeds"
GOLD = ROOT / "eval" / "gold.jsonl"
FOLLOWUPS = ROOT / "eval" / "followups.jsonl"

LANGS = {"zh-Hans", "zh-Hant", "en"}
TYPES = {"fact", "number", "table", "list", "multi_doc", "paraphrase", "unanswerable"}
KEYS = {"id", "question", "lang", "type", "answer", "must_include", "evidence"}
PINYIN_DOC = "004_24c4d525af6cbe55.txt"
SHORT_QUOTE = 15  # characters as written; a non-table quote shorter than this must be unique in its document
MIN_QUOTE = 8  # normalised characters, non-table quotes
MAX_QUOTE = 80  # normalised characters


def load(path: Path) -> list[dict]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as e:
                pytest.fail(f"{path.name} line {n}: invalid JSON ({e})")
    return items


@cache
def raw_text(doc: str) -> str:
    return (SEEDS / doc).read_text(encoding="utf-8")


@cache
def seed_text(doc: str) -> str:
    text = raw_text(doc)
    if doc == PINYIN_DOC:
        text = strip_pinyin_annotations(text)
        if isinstance(text, tuple):  # rule form: (text, times_fired)
            text = text[0]
    return text


GOLD_ITEMS = load(GOLD)
FOLLOWUP_ITEMS = load(FOLLOWUPS)
ALL_ITEMS = GOLD_ITEMS + FOLLOWUP_ITEMS


def test_counts():
    """The set keeps its size and mix: at least 200 items (209 since g134–g209), unanswerable ones
    (many near misses) at most a third of them, so answer accuracy still rests on most items."""
    by_type = lambda t: [i for i in GOLD_ITEMS if i.get("type") == t]  # noqa: E731
    assert len(GOLD_ITEMS) >= 200
    assert len(FOLLOWUP_ITEMS) >= 15
    assert len(by_type("table")) >= 8
    assert len(by_type("multi_doc")) >= 6
    assert 8 <= len(by_type("unanswerable")) <= len(GOLD_ITEMS) // 3


def test_each_split_has_both_kinds():
    """The tune split (fitting) and the test split (reporting, CI gate) each hold enough answerable
    and unanswerable items to measure accuracy and abstention on."""
    items = [SimpleNamespace(id=i["id"], type=i["type"]) for i in GOLD_ITEMS]  # select reads .id
    for split in ("tune", "test"):
        part = select(items, split)
        unanswerable = sum(i.type == "unanswerable" for i in part)
        assert unanswerable >= 15, f"{split}: only {unanswerable} unanswerable items"
        assert len(part) - unanswerable >= 50, f"{split}: only {len(part) - unanswerable} answerable items"


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

    min_len = 2 if item["type"] == "table" else MIN_QUOTE
    for ev in evidence:
        doc, quote = ev["doc"], ev["quote"]
        assert (SEEDS / doc).is_file(), f"{iid}: unknown doc {doc}"
        assert "\n" not in quote, f"{iid}: quote crosses a line break: {quote!r}"
        assert quote in raw_text(doc) or quote in seed_text(doc), f"{iid}: quote not found in {doc}: {quote!r}"
        compared, cleaned = normalise(quote), normalise(seed_text(doc))
        assert compared in cleaned, f"{iid}: quote not in the cleaned text of {doc}: {quote!r}"
        assert min_len <= len(compared) <= MAX_QUOTE, f"{iid}: quote length {len(compared)}: {quote!r}"
        if item["type"] != "table" and len(quote) < SHORT_QUOTE:
            assert cleaned.count(compared) == 1, (
                f"{iid}: short quote {quote!r} occurs {cleaned.count(compared)} times in {doc}"
            )

    quotes = "".join(ev["quote"] for ev in evidence)
    for m in must:
        assert contains_normalised(quotes, m), f"{iid}: must_include {m!r} not in its quotes"
    for alternative in item.get("alternatives", []):
        assert contains_normalised(quotes, alternative), f"{iid}: alternative {alternative!r} not in its quotes"

    if item["type"] == "multi_doc":
        assert len({ev["doc"] for ev in evidence}) >= 2, f"{iid}: multi_doc needs evidence from 2 docs"
