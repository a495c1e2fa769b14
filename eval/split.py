"""Stable tune/test split of a gold set, by a hash of each item's id.

Everything fitted or calibrated (the answer scorer, its abstention threshold) sees only the tune
part; reports and the CI gate score the test part. The split depends on nothing but the id, so
adding items never moves an existing item from one part to the other.
"""

from __future__ import annotations

import hashlib

SPLITS = ("tune", "test")
TEST_SHARE_PERCENT = 50


def split_of(item_id: str) -> str:
    """'test' for about TEST_SHARE_PERCENT of ids, 'tune' for the rest; the same answer forever."""
    digest = hashlib.sha256(f"govdoc-qa split:{item_id}".encode()).hexdigest()
    return "test" if int(digest[:8], 16) % 100 < TEST_SHARE_PERCENT else "tune"


def select(items: list, split: str | None) -> list:
    """The items of one split (None or 'all': every item)."""
    if split in (None, "all"):
        return list(items)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of tune, test, all")
    return [item for item in items if split_of(item.id) == split]
