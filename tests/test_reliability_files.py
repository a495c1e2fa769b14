"""Bad files in the documents folder: each is skipped with a reason a person can act on, or read
correctly; the good files are indexed either way. Builds are --no-vectors (chunks only) to stay fast."""

from __future__ import annotations

import codecs
import random
import shutil
from pathlib import Path

from conftest import REPO

from config import Config
from ingest.build import build_index
from ingest.chunk import TARGET_MAX
from ingest.load import MAX_FILE_BYTES
from store.index_files import read_index

SEEDS = REPO / "seeds"
GOOD = ["000_f07e5012fceaca9b.txt", "003_1c05df24331652f3.txt"]
SEED_TEXT = (SEEDS / GOOD[1]).read_text(encoding="utf-8")


def build(seeds: Path, tmp_path: Path):
    config = Config(seeds_dir=seeds, index_dir=tmp_path / "index")
    messages: list[str] = []
    summary = build_index(config, with_vectors=False, log=messages.append)
    return summary, read_index(config.index_dir), messages


def good_seeds(folder: Path) -> Path:
    folder.mkdir()
    for name in GOOD:
        shutil.copy(SEEDS / name, folder / name)
    return folder


def test_undecodable_and_empty_files_are_skipped_with_a_reason(tmp_path, monkeypatch):
    seeds = good_seeds(tmp_path / "seeds")
    rng = random.Random(5)
    (seeds / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(20_000)))
    (seeds / "zeros.md").write_bytes(b"\0" * 5000)
    (seeds / "empty.txt").write_bytes(b"")
    (seeds / "blank.txt").write_bytes(b" \n\t\r\n  \n")
    (seeds / "utf16-no-bom.txt").write_bytes(SEED_TEXT.encode("utf-16-le"))
    (seeds / "too-big.txt").touch()
    (seeds / "locked.txt").write_text(SEED_TEXT, encoding="utf-8")
    (seeds / "report.pdf").write_bytes(b"%PDF-1.7")  # not a .txt/.md: not a document at all
    # A file over the limit, without writing it: a sparse file has the size and no blocks.
    with (seeds / "too-big.txt").open("r+b") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    real_read_bytes = Path.read_bytes

    def read_bytes(self):  # CI runs as root, which can read a chmod 000 file: simulate the refusal
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    summary, stored, messages = build(seeds, tmp_path)

    reasons = {s["doc"]: s["reason"] for s in stored.manifest["skipped"]}
    assert reasons["photo.txt"].startswith(("binary file", "undecodable"))
    assert reasons["zeros.md"] == "binary file (NUL bytes)"
    assert reasons["empty.txt"] == "empty file"
    assert reasons["blank.txt"] == "empty file"
    assert reasons["utf16-no-bom.txt"].startswith("binary file")  # no BOM: taken for binary, skipped, not misread
    assert reasons["too-big.txt"].startswith("too large")
    assert reasons["locked.txt"] == "Permission denied"
    assert "report.pdf" not in reasons
    for name, reason in reasons.items():  # the build log says the same, file by file
        assert f"skipped {name}: {reason}" in messages
    assert sorted(d.doc_id for d in stored.documents) == GOOD
    assert summary.documents == 2 and len(summary.skipped) == len(reasons)


def test_gbk_and_utf16_files_read_like_utf8(tmp_path):
    seeds = good_seeds(tmp_path / "seeds")
    (seeds / "gbk.txt").write_bytes(SEED_TEXT.encode("gbk"))
    (seeds / "utf16.txt").write_bytes(SEED_TEXT.encode("utf-16"))  # with its BOM, as Windows writes it
    (seeds / "utf16be.txt").write_bytes(codecs.BOM_UTF16_BE + SEED_TEXT.encode("utf-16-be"))
    (seeds / "utf8-bom.txt").write_bytes(codecs.BOM_UTF8 + SEED_TEXT.encode("utf-8"))
    _, stored, _ = build(seeds, tmp_path)
    assert stored.manifest["skipped"] == []
    texts = {
        name: [c.text for c in stored.chunks if c.doc == name]
        for name in (GOOD[1], "gbk.txt", "utf16.txt", "utf16be.txt", "utf8-bom.txt")
    }
    assert texts[GOOD[1]] and all(chunks == texts[GOOD[1]] for chunks in texts.values())
    encodings = {d.doc_id: d.encoding for d in stored.documents}
    assert encodings["gbk.txt"] == "gb18030" and encodings["utf16.txt"] == encodings["utf16be.txt"] == "utf-16"


def test_one_megabyte_line_is_cut_into_normal_chunks(tmp_path):
    seeds = good_seeds(tmp_path / "seeds")
    # One line, no sentence end, only commas now and then: the chunker must still cut it.
    clause = "马驹桥镇先进制造业产业集群持续壮大，"
    (seeds / "one-line.txt").write_text(clause * (2**20 // len(clause.encode("utf-8"))), encoding="utf-8")
    (seeds / "no-breaks.txt").write_text("智能制造" * (2**20 // 12), encoding="utf-8")
    _, stored, _ = build(seeds, tmp_path)
    texts = {d.doc_id: d.text for d in stored.documents}
    for name in ("one-line.txt", "no-breaks.txt"):
        chunks = [c for c in stored.chunks if c.doc == name]
        assert max(len(c.text) for c in chunks) <= TARGET_MAX
        assert chunks[0].start == 0 and chunks[-1].end == len(texts[name].rstrip())  # all of it, in pieces
    assert {d.doc_id for d in stored.documents} >= set(GOOD)


def test_fifty_megabyte_text_is_indexed_with_the_rest(tmp_path):
    seeds = good_seeds(tmp_path / "seeds")
    big = seeds / "big.txt"
    block = (SEED_TEXT + "\n").encode("utf-8")
    with big.open("wb") as fh:
        for _ in range(50 * 2**20 // len(block) + 1):
            fh.write(block)
    assert 50 * 2**20 <= big.stat().st_size <= MAX_FILE_BYTES
    summary, stored, _ = build(seeds, tmp_path)
    assert stored.manifest["skipped"] == []
    assert sorted(d.doc_id for d in stored.documents) == sorted([*GOOD, "big.txt"])
    big_chunks = [c for c in stored.chunks if c.doc == "big.txt"]
    assert len(big_chunks) > 10_000 and max(len(c.text) for c in big_chunks) <= TARGET_MAX
    assert summary.chunks == len(stored.chunks)
