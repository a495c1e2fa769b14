"""Read every .txt/.md file of a folder, detecting its encoding; skip bad files with a reason."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = {".txt", ".md"}
MAX_FILE_BYTES = 64 * 1024 * 1024  # larger files are skipped: not a document, and would stall ingest


@dataclass
class LoadedFile:
    doc_id: str
    path: Path
    text: str
    encoding: str
    raw: bytes


@dataclass
class SkippedFile:
    doc_id: str
    reason: str


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Decode a document, returning (text, encoding used). Raises ValueError when it is not text.

    Order matters: BOMs first (UTF-16 would otherwise look like binary), then strict UTF-8, then
    GB18030 (a superset of GBK and GB2312, the usual encodings of Chinese government files).
    """
    if not raw.strip():
        raise ValueError("empty file")
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), "utf-16"
    if b"\x00" in raw[:4096]:
        raise ValueError("binary file (NUL bytes)")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ValueError("undecodable: neither UTF-8 nor GB18030/GBK") from None
    if _looks_like_binary(text):
        raise ValueError("binary file (control characters)")
    return text, "gb18030"


def _looks_like_binary(text: str) -> bool:
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    return controls > len(sample) * 0.01


def load_folder(folder: Path) -> tuple[list[LoadedFile], list[SkippedFile]]:
    """Every .txt/.md file directly in `folder`, sorted by name; bad ones come back as skipped."""
    if not folder.is_dir():
        raise FileNotFoundError(f"documents folder not found: {folder}")
    loaded, skipped = [], []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in TEXT_SUFFIXES or not path.is_file():
            continue
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise ValueError(f"too large ({size / 2**20:.0f} MB > {MAX_FILE_BYTES / 2**20:.0f} MB)")
            raw = path.read_bytes()
            text, encoding = decode_bytes(raw)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            skipped.append(SkippedFile(path.name, reason))
            continue
        loaded.append(LoadedFile(path.name, path, text, encoding, raw))
    return loaded, skipped
