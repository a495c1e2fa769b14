"""The results file: one JSON line per answered gold question, written by `run`, read by `score`.

Row schema:
    {"id", "question", "answer", "abstained", "lang", "standalone_question",
     "citations": [{"doc", "text", "passage", "start", "end"}],
     "retrieved": [{"doc", "text", "score"}],   # top 10 after the last stage, in rank order
     "latency_ms"}
For a citation, "text" is the cited sentence (Citation.quote) or, when that is empty, the passage;
"passage" is always the whole passage the citation points into.
"""

from __future__ import annotations

import json
from pathlib import Path

from qa_types import Answer

RETRIEVED_KEPT = 10
REQUIRED_ROW_KEYS = ("id", "answer", "abstained", "citations", "retrieved", "latency_ms")


class ResultsFormatError(ValueError):
    """A results line that cannot be scored; the message names the file and line number."""


def answer_to_row(item_id: str, question: str, answer: Answer, latency_ms: float) -> dict:
    return {
        "id": item_id,
        "question": question,
        "answer": answer.answer,
        "abstained": bool(answer.abstained),
        "lang": answer.lang,
        "standalone_question": answer.standalone_question,
        "notice": answer.notice,  # e.g. the LLM failed and the extractive answer stands in
        "citations": [
            {"doc": c.doc, "text": c.quote or c.text, "passage": c.text, "start": c.start, "end": c.end}
            for c in answer.citations
        ],
        "retrieved": [
            {"doc": p.chunk.doc, "text": p.chunk.text, "score": round(float(p.score), 6)}
            for p in answer.retrieved[:RETRIEVED_KEPT]
        ],
        "latency_ms": round(latency_ms, 2),
    }


def write_results(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_results(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    rows = []
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ResultsFormatError(f"{where}: not valid JSON ({exc.msg})") from None
        check_row(row, where)
        rows.append(row)
    return rows


def check_row(row: object, where: str) -> None:
    """Raise ResultsFormatError unless `row` has what the scorer reads."""
    if not isinstance(row, dict):
        raise ResultsFormatError(f"{where}: expected a JSON object")
    missing = [key for key in REQUIRED_ROW_KEYS if key not in row]
    if missing:
        raise ResultsFormatError(f"{where}: missing key(s) {', '.join(missing)}")
    if not isinstance(row["abstained"], bool):
        raise ResultsFormatError(f"{where}: 'abstained' must be true or false")
    if not isinstance(row["answer"], str):
        raise ResultsFormatError(f"{where}: 'answer' must be a string")
    if not isinstance(row["latency_ms"], (int, float)):
        raise ResultsFormatError(f"{where}: 'latency_ms' must be a number")
    for key in ("citations", "retrieved"):
        entries = row[key]
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("text"), str) for e in entries
        ):
            raise ResultsFormatError(f"{where}: {key!r} must be a list of objects with a string 'text'")
