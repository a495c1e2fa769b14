"""Loading a folder: encodings, bad files skipped with a reason, and the atomic index write."""

import json
import shutil
from pathlib import Path

import pytest

from config import Config
from ingest.build import build_index
from ingest.documents import ingest_folder
from ingest.load import decode_bytes
from store.index_files import IndexUnusableError, read_index

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SEED = "003_1c05df24331652f3.txt"


def _copy_seed(folder: Path, name: str = SEED) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(SEEDS / name, folder / name))


def test_gbk_copy_ingests_like_utf8(tmp_path):
    utf8 = _copy_seed(tmp_path / "utf8")
    gbk_dir = tmp_path / "gbk"
    gbk_dir.mkdir()
    (gbk_dir / SEED).write_bytes(utf8.read_text(encoding="utf-8").encode("gbk"))
    a, b = ingest_folder(utf8.parent), ingest_folder(gbk_dir)
    assert b.reports[0].encoding == "gb18030"
    assert [c.text for c in a.chunks] == [c.text for c in b.chunks]


def test_bom_and_utf16_are_decoded():
    assert decode_bytes("\ufeff马驹桥镇".encode("utf-8")) == ("马驹桥镇", "utf-8-sig")
    assert decode_bytes("马驹桥镇".encode("utf-16")) == ("马驹桥镇", "utf-16")


def test_bad_files_skipped_with_reason_rest_indexed(tmp_path):
    _copy_seed(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")  # not a .txt/.md: ignored, not an error
    result = ingest_folder(tmp_path)
    reasons = {s.doc_id: s.reason for s in result.skipped}
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"] or "undecodable" in reasons["binary.txt"]
    assert "notes.pdf" not in reasons
    assert [d.doc_id for d in result.documents] == [SEED]


def test_unreadable_file_skipped(tmp_path, monkeypatch):
    # CI runs as root, which reads any file whatever its mode: simulate the permission error.
    _copy_seed(tmp_path)
    locked = tmp_path / "locked.txt"
    locked.write_text("马驹桥镇")
    real_read_bytes = Path.read_bytes

    def read_bytes(self):
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = ingest_folder(tmp_path)
    assert [(s.doc_id, s.reason) for s in result.skipped] == [("locked.txt", "Permission denied")]
    assert [d.doc_id for d in result.documents] == [SEED]


def test_index_written_and_read_back_with_checksums(tmp_path):
    _copy_seed(tmp_path / "seeds")
    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    summary = build_index(config, with_vectors=False, log=lambda m: None)
    stored = read_index(config.index_dir)
    assert summary.chunks == len(stored.chunks) > 5
    manifest = stored.manifest
    assert manifest["sources"][SEED] and manifest["chunker_version"] and manifest["counts"]["documents"] == 1
    first = json.loads((config.index_dir / "chunks.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert {"id", "doc", "title", "section", "text", "search_text", "start", "end"} <= first.keys()
    # A damaged file is detected with a message that says how to rebuild.
    with (config.index_dir / "chunks.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{}\n")
    with pytest.raises(IndexUnusableError, match="python -m ingest"):
        read_index(config.index_dir)


def test_failed_write_leaves_previous_index(tmp_path, monkeypatch):
    _copy_seed(tmp_path / "seeds")
    config = Config(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index")
    build_index(config, with_vectors=False, log=lambda m: None)
    before = (config.index_dir / "chunks.jsonl").read_text(encoding="utf-8")
    _copy_seed(tmp_path / "seeds", "000_f07e5012fceaca9b.txt")

    import store.index_files as index_files

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_files, "_fsync_tree", disk_full)
    with pytest.raises(OSError):
        build_index(config, with_vectors=False, log=lambda m: None)
    assert (config.index_dir / "chunks.jsonl").read_text(encoding="utf-8") == before
    assert read_index(config.index_dir).manifest["counts"]["documents"] == 1
    leftovers = [p for p in (tmp_path / ".index.versions").iterdir()]
    assert len(leftovers) == 1  # the half-written version was removed
