"""Load and validate a gold question set (JSON Lines, one question per line).

Schema of one line:
    {"id": str, "question": str, "lang": "zh-Hans"|"zh-Hant"|"en",
     "type": "fact"|"number"|"table"|"list"|"multi_doc"|"paraphrase"|"unanswerable",
     "answer": str, "must_include": [str, ...], "evidence": [{"doc": str, "quote": str}, ...]}
Follow-up sets add "first_question" (asked first, as history) and "standalone" (the follow-up
rewritten to stand alone); `question` is then the follow-up itself. An answerable item may carry
"alternatives" (every annotated form of the answer, as in CMRC 2018): the answer is then right when
it contains any one of them.

Unanswerable items have empty `must_include` and `evidence`; every other item has at least one of
each. Any violation raises `GoldFormatError` naming the file and line: nothing is skipped silently.
Blank lines are allowed (they hold no item). Extra keys are allowed and ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eval.normalize import normalise

EVAL_DIR = Path(__file__).resolve().parent
DEFAULT_GOLD = EVAL_DIR / "gold.jsonl"
DEFAULT_FOLLOWUPS = EVAL_DIR / "followups.jsonl"
LANGS = ("zh-Hans", "zh-Hant", "en")
TYPES = ("fact", "number", "table", "list", "multi_doc", "paraphrase", "unanswerable")
REQUIRED_KEYS = ("id", "question", "lang", "type", "answer", "must_include", "evidence")


class GoldFormatError(ValueError):
    """A gold line that does not follow the schema; the message names the file and line number."""


@dataclass(frozen=True)
class Evidence:
    doc: str
    quote: str


@dataclass(frozen=True)
class GoldItem:
    id: str
    question: str
    lang: str
    type: str
    answer: str
    must_include: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    first_question: str | None = None  # follow-up sets only
    standalone: str | None = None  # follow-up sets only
    alternatives: tuple[str, ...] = ()  # any one of these in the answer makes it right

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"


def load_gold(path: str | Path) -> list[GoldItem]:
    """Every item of a gold file, in file order; raises GoldFormatError on the first bad line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"gold file not found: {path}")
    return parse_gold_lines(path.read_text(encoding="utf-8").splitlines(), source=str(path))


def parse_gold_lines(lines: list[str], source: str = "<gold>") -> list[GoldItem]:
    items: list[GoldItem] = []
    seen_ids: dict[str, int] = {}
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{line_number}"
        item = _parse_item(line, where)
        if item.id in seen_ids:
            raise GoldFormatError(f"{where}: duplicate id {item.id!r} (first on line {seen_ids[item.id]})")
        seen_ids[item.id] = line_number
        items.append(item)
    if not items:
        raise GoldFormatError(f"{source}: no gold items")
    return items


def _parse_item(line: str, where: str) -> GoldItem:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise GoldFormatError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise GoldFormatError(f"{where}: expected a JSON object, got {type(data).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise GoldFormatError(f"{where}: missing key(s) {', '.join(missing)}")

    for key in ("id", "question", "answer"):
        if not isinstance(data[key], str):
            raise GoldFormatError(f"{where}: {key!r} must be a string")
    for key in ("id", "question"):
        if not data[key].strip():
            raise GoldFormatError(f"{where}: {key!r} is empty")
    if data["lang"] not in LANGS:
        raise GoldFormatError(f"{where}: lang {data['lang']!r} is not one of {', '.join(LANGS)}")
    if data["type"] not in TYPES:
        raise GoldFormatError(f"{where}: type {data['type']!r} is not one of {', '.join(TYPES)}")

    must_include = _parse_must_include(data["must_include"], where)
    evidence = _parse_evidence(data["evidence"], where)
    if data["type"] == "unanswerable":
        if must_include or evidence:
            raise GoldFormatError(f"{where}: unanswerable items must have empty must_include and evidence")
    else:
        if not must_include:
            raise GoldFormatError(f"{where}: answerable item needs at least one must_include string")
        if not evidence:
            raise GoldFormatError(f"{where}: answerable item needs at least one evidence quote")

    first_question, standalone = _parse_followup_fields(data, where)
    alternatives = _parse_alternatives(data.get("alternatives", []), where)
    if alternatives and data["type"] == "unanswerable":
        raise GoldFormatError(f"{where}: unanswerable items cannot have alternatives")
    return GoldItem(
        id=data["id"],
        question=data["question"],
        lang=data["lang"],
        type=data["type"],
        answer=data["answer"],
        must_include=must_include,
        evidence=evidence,
        first_question=first_question,
        standalone=standalone,
        alternatives=alternatives,
    )


def _parse_alternatives(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and normalise(v) for v in value):
        raise GoldFormatError(f"{where}: alternatives must be a list of strings with text left after normalisation")
    return tuple(value)


def _parse_must_include(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise GoldFormatError(f"{where}: must_include must be a list of strings")
    for index, entry in enumerate(value):
        if not isinstance(entry, str) or not normalise(entry):
            raise GoldFormatError(
                f"{where}: must_include[{index}] must be a string with text left after normalisation, got {entry!r}"
            )
    return tuple(value)


def _parse_evidence(value: object, where: str) -> tuple[Evidence, ...]:
    if not isinstance(value, list):
        raise GoldFormatError(f"{where}: evidence must be a list of {{doc, quote}} objects")
    evidence = []
    for index, entry in enumerate(value):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("doc"), str)
            or not isinstance(entry.get("quote"), str)
        ):
            raise GoldFormatError(f"{where}: evidence[{index}] must be an object with string doc and quote")
        if not entry["doc"].strip():
            raise GoldFormatError(f"{where}: evidence[{index}].doc is empty")
        if not normalise(entry["quote"]):
            raise GoldFormatError(f"{where}: evidence[{index}].quote has no text left after normalisation")
        evidence.append(Evidence(doc=entry["doc"], quote=entry["quote"]))
    return tuple(evidence)


def _parse_followup_fields(data: dict, where: str) -> tuple[str | None, str | None]:
    if "first_question" not in data:
        return None, None
    first_question, standalone = data["first_question"], data.get("standalone")
    if not isinstance(first_question, str) or not first_question.strip():
        raise GoldFormatError(f"{where}: first_question must be a non-empty string")
    if not isinstance(standalone, str) or not standalone.strip():
        raise GoldFormatError(f"{where}: a follow-up item needs a non-empty 'standalone' string")
    return first_question, standalone
