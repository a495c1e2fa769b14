"""Check a generated answer sentence by sentence against the numbered passages it was generated from.

A sentence's `[n]` markers must name passages that were given, and a cited passage must support
the sentence:
  lexical  share of the sentence's character bigrams (simplified form) found in the passage;
           Chinese answers only, since English sentences share no characters with Chinese passages
  cosine   best cosine between the sentence and one sentence of the passage
  numbers  every number in the sentence appears in the passage, with the same unit, beside the
           same words, and in the same year
A bare fragment (`25.31亿元。`) is checked together with the question it answers, and its own
words must be in the passage too.
Markers naming no given passage are removed. A sentence that no cited passage supports (or that
cites none) is cited to the passage that supports it best, if one does; otherwise it is dropped.
Each kept sentence cites, like an extractive answer, the passage sentence that supports it best.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

import numpy as np

from language.normalize import fold_width, search_form, to_simplified, to_traditional
from qa_types import Chunk, Citation

Embed = Callable[[list[str]], np.ndarray]  # texts -> (len, dim) L2-normalised query vectors


@dataclass(frozen=True)
class Thresholds:
    lexical: float  # min share of the sentence's bigrams found in the passage (Chinese answers) ...
    cosine: float  # ... together with this cosine to the passage's best sentence
    quoted: float  # or this share alone: a short quote (`1400年。`) has a low cosine to a whole sentence
    cosine_en: float  # English answers: cosine only (plus numbers)


# Calibrated on the gold answers against their evidence passages versus the other retrieved
# passages (docs/llm.md, "Citation check"); cosines differ in scale between embedders.
THRESHOLDS = {
    "use-m3": Thresholds(lexical=0.45, cosine=0.35, quoted=0.8, cosine_en=0.35),
    "embeddinggemma": Thresholds(lexical=0.45, cosine=0.35, quoted=0.8, cosine_en=0.4),
}
DEFAULT_THRESHOLDS = THRESHOLDS["use-m3"]

_HAN = r"\u3400-\u9fff"
_MARKER = re.compile(r"[\[【［]\s*(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\s*[\]】］]")
_LEADING_MARKERS = re.compile(rf"^\s*(?:{_MARKER.pattern}\s*)+")
# A sentence ends at 。！？; at a period before a space or marker; at a line break; or right after
# a marker that more text follows (`…万辆[1]，预计…[2]。` holds two claims).
_SENTENCE_END = re.compile(r"[。！？!?；;]+|\.(?=\s|$|[\[【［])|\n+|(?<=[\]】］])(?!\s*[\[【［。！？!?；;.]|\s*$)")
# Markdown emphasis, list bullets, an `答案：` lead-in and unfilled `[n]` placeholders carry no claim.
_NOISE = re.compile(
    r"\*\*|__|^\s*(?:[-*•]|\d{1,2}[.)、])\s+|^\s*(?:答案|回答|Answer)\s*[:：]\s*|[\[【［]\s*(?:n|N|编号|x)\s*[\]】］]",
    re.M,
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
_DATE_PART = re.compile(r"\d+(?=\s*(?:[-~至]\s*\d+\s*)?[年月日号])")  # 2023年, 1-11月 (both), 28日
_CLAUSE_END = re.compile(r"[，,。；;！？!?\n]")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_QUESTION_WORDS = re.compile(r"多少|什么|哪些|哪个|哪里|哪|几|吗|呢|是否|如何|怎么样?|怎样|何时|[？?]")
NUMBER_CONTEXT_MIN = 0.3  # share of a claim clause's wording found around its number in the passage
FRAGMENT_CHARS = 10  # a claim this short (`25.31亿元。`) is checked as the statement it makes about the question
_UNIT = re.compile(r"\s*(万|萬|亿|億|million\b|billion\b)", re.I)
_UNIT_CHAR = re.compile(r"\s*[余多]?\s*([\u3400-\u9fff%])")
_UNIT_VALUE = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8, "million": 10**6, "billion": 10**9}


@dataclass(frozen=True)
class SourceSentence:
    start: int  # offsets in the cleaned document
    end: int
    text: str  # the document's own text of the sentence
    vector: np.ndarray  # its embedding, from the index


@dataclass
class SourcePassage:
    n: int  # the number the prompt gave it
    chunk: Chunk
    sentences: list[SourceSentence]

    @cached_property
    def bigrams(self) -> set[str]:
        return bigrams(self.chunk.text)


@dataclass
class Support:
    """How well one passage supports one generated sentence, and through which of its sentences."""

    passage: SourcePassage
    sentence: SourceSentence
    lexical: float
    cosine: float
    numbers_ok: bool

    def passes(self, thresholds: Thresholds, lang: str) -> bool:
        if not self.numbers_ok:
            return False
        if lang == "en":
            return self.cosine >= thresholds.cosine_en
        return self.lexical >= thresholds.quoted or (
            self.lexical >= thresholds.lexical and self.cosine >= thresholds.cosine
        )

    @property
    def strength(self) -> float:
        return self.cosine + self.lexical


@dataclass
class CheckedSentence:
    text: str  # as generated, markers removed
    markers: list[int]  # as generated
    supports: list[Support] = field(default_factory=list)  # what the final answer cites; empty = dropped
    verdict: str = "dropped"  # "kept" | "recited" (its markers were wrong or missing) | "dropped"
    best: Support | None = None  # the best support found, for diagnostics


@dataclass
class CheckResult:
    sentences: list[CheckedSentence]

    @property
    def kept(self) -> list[CheckedSentence]:
        return [s for s in self.sentences if s.verdict != "dropped"]

    @property
    def dropped(self) -> list[CheckedSentence]:
        return [s for s in self.sentences if s.verdict == "dropped"]


# ---------------------------------------------------------------- text features
def bigrams(text: str) -> set[str]:
    """Character bigrams of the simplified, lowercased text without punctuation or spaces."""
    chars = re.sub(rf"[^{_HAN}a-z0-9]", "", search_form(text).lower())
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


@dataclass(frozen=True)
class Number:
    forms: tuple[str, ...]  # as written, then unit-free if a unit multiplies it: ("72", "720000")
    unit: str  # the character after it (`万`, `家`, `%`; 余/多 skipped), "" if none or not Chinese


def number_forms(text: str) -> list[Number]:
    """The numbers of a text, so that a translated unit still matches:
    `72万` -> ("72", "720000"), `2.438 billion` -> ("2.438", "2438000000")."""
    folded = _THOUSANDS_COMMA.sub("", fold_width(text))
    numbers = []
    for match in _NUMBER.finditer(folded):
        forms = (match.group(),)
        multiplier = _UNIT.match(folded, match.end())
        if multiplier:
            value = Decimal(match.group()) * _UNIT_VALUE[multiplier.group(1).lower()]
            forms += (format(value.normalize(), "f"),)
        unit = _UNIT_CHAR.match(folded, match.end())
        numbers.append(Number(forms, unit.group(1) if unit else ""))
    return numbers


def numbers_in(text: str) -> set[str]:
    return {form for number in number_forms(text) for form in number.forms}


def quantities_supported(claim: str, passage_text: str, lang: str) -> bool:
    """Every number of the claim is in the passage, and in the right place: in a clause with the
    same unit that gives no other year, and whose wording matches the claim's clause around the
    number (a share of NUMBER_CONTEXT_MIN, or the best match among the passage's clauses with
    numbers). So `2023年…固投任务158亿元` fails on `2021年全镇完成固投158亿元`, `…产值约3亿元` fails
    on `产值约67亿元，税收突破3亿元`, and `2.4%` on `2.4万余亩`. Dates (years, `1-11月`) need only be
    in the passage: they often head a paragraph."""
    claim = _THOUSANDS_COMMA.sub("", search_form(claim))  # `720,000` is one number, not two clauses
    passage_text = search_form(passage_text)  # 萬 and 万 are the same unit
    claim_years = set(_YEAR.findall(claim))
    passage_numbers = numbers_in(passage_text)
    clauses = [c for c in map(_Clause.parse, _CLAUSE_END.split(passage_text)) if c.numbers]
    for claim_clause in _CLAUSE_END.split(claim):
        years = set(_YEAR.findall(claim_clause)) or claim_years  # `…，2022年…104.8亿元`: this clause's year
        dates = claim_years | set(_DATE_PART.findall(claim_clause))
        words = _word_bigrams(claim_clause)
        # The best match is taken over all clauses: a clause of another year that matches better
        # means the number belongs elsewhere (a false drop only shows the extractive answer).
        best_share = max((c.shared(words) for c in clauses), default=0.0)
        for number in number_forms(claim_clause):
            if number.forms[0] in dates:
                if number.forms[0] not in passage_numbers:
                    return False
            elif not any(c.holds(number, years, words, best_share, lang) for c in clauses):
                return False
    return True


@dataclass
class _Clause:
    """A clause of a passage: its numbers with the years each goes with, and its wording."""

    numbers: list[tuple[Number, set[str]]]
    words: set[str]

    @classmethod
    def parse(cls, clause: str) -> _Clause:
        years = _YEAR.findall(clause)
        numbers = number_forms(clause)
        values = [n for n in numbers if n.forms[0] not in years]
        if "分别" in clause and len(years) > 1 and len(values) == len(years):
            # `2020年、2021年、2022年全镇税收分别为18.99亿元、19.14亿元、24.38亿元`: pairs in order
            dated = list(zip(values, ({year} for year in years)))
        else:
            dated = [(n, set(years)) for n in numbers]
        return cls(dated, _word_bigrams(clause))

    def shared(self, claim_words: set[str]) -> float:
        return len(claim_words & self.words) / len(claim_words) if claim_words else 1.0

    def holds(self, number: Number, claim_years: set[str], claim_words: set[str], best_share: float, lang: str) -> bool:
        for mine, years in self.numbers:
            if not set(number.forms) & set(mine.forms):
                continue
            if number.forms[0] == mine.forms[0] and number.unit and mine.unit and number.unit != mine.unit:
                continue  # 2.4% is not 2.4万
            if claim_years and years and not years & claim_years:
                continue
            shared = self.shared(claim_words)
            return lang == "en" or shared >= NUMBER_CONTEXT_MIN or (shared > 0 and shared == best_share)
        return False


def _word_bigrams(text: str) -> set[str]:
    return {b for b in bigrams(text) if not re.search(r"\d", b)}


def split_sentences(text: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, its [n] markers). Markers right after a sentence's end
    (`…万辆。[1]`) belong to that sentence."""
    text = _NOISE.sub("", text)
    pieces, start = [], 0
    for end in _SENTENCE_END.finditer(text):
        pieces.append(text[start : end.end()])
        start = end.end()
    pieces.append(text[start:])
    sentences: list[tuple[str, list[int]]] = []
    for piece in pieces:
        leading = _LEADING_MARKERS.match(piece)
        if leading and sentences:
            sentences[-1][1].extend(_markers(leading.group()))
            piece = piece[leading.end() :]
        claim = re.sub(r"\s+([.,;!?。，；！？])", r"\1", _MARKER.sub("", piece)).strip().lstrip("，,、；;：: ")
        if re.search(rf"[{_HAN}A-Za-z0-9]", claim):
            sentences.append((claim, _markers(piece)))
    return sentences


def _markers(text: str) -> list[int]:
    found = [int(n) for group in _MARKER.findall(text) for n in re.split(r"\s*[,，、]\s*", group)]
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------- checking
def support(claim: str, claim_vector: np.ndarray, passage: SourcePassage, lang: str) -> Support | None:
    if not passage.sentences:
        return None
    claim_bigrams = bigrams(claim)
    lexical = len(claim_bigrams & passage.bigrams) / len(claim_bigrams) if claim_bigrams else 0.0
    vectors = np.stack([s.vector for s in passage.sentences]).astype(np.float32)
    cosines = vectors @ claim_vector.astype(np.float32)
    if lang == "en":
        best = int(np.argmax(cosines))
    else:  # the sentence that shares most with the claim, by meaning and by wording
        overlap = [len(claim_bigrams & bigrams(s.text)) / max(len(claim_bigrams), 1) for s in passage.sentences]
        best = int(np.argmax(cosines + np.asarray(overlap)))
    numbers_ok = quantities_supported(claim, passage.chunk.text, lang)
    return Support(passage, passage.sentences[best], lexical, float(cosines.max()), numbers_ok)


def as_statement(claim: str, question: str) -> str:
    """What a claim asserts: itself, or for a bare fragment, the question it answers plus the
    fragment (`2023年…工业总产值预计突破` + `25.31亿元`), so the passage must support both."""
    content = re.sub(rf"[^{_HAN}A-Za-z0-9]", "", claim)
    if len(content) >= FRAGMENT_CHARS or not question:
        return claim
    return _QUESTION_WORDS.sub("", question).strip() + " " + claim


def _fragment_grounded(fragment: str, passage: SourcePassage, lang: str, thresholds: Thresholds) -> bool:
    """A fragment is checked with the question's words, but its own content must be in the passage
    too (`法国的首都是巴黎。` borrows nothing): its wording, or for English a (checked) number."""
    if lang == "en":
        return bool(numbers_in(fragment))
    own = bigrams(fragment)
    return bool(own) and len(own & passage.bigrams) / len(own) >= thresholds.lexical


def check_answer(
    text: str,
    passages: list[SourcePassage],
    embed: Embed,
    lang: str,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    question: str = "",
) -> CheckResult:
    sentences = split_sentences(text)
    if not sentences or not passages:
        return CheckResult([CheckedSentence(claim, markers) for claim, markers in sentences])
    statements = [as_statement(claim, question) for claim, _ in sentences]
    vectors = embed([search_form(statement) for statement in statements])
    checked = []
    for (claim, markers), statement, vector in zip(sentences, statements, vectors):
        result = CheckedSentence(claim, markers)
        supports = [s for p in passages if (s := support(statement, vector, p, lang)) is not None]
        passing = sorted(
            (
                s
                for s in supports
                if s.passes(thresholds, lang)
                and (statement == claim or _fragment_grounded(claim, s.passage, lang, thresholds))
            ),
            key=lambda s: s.strength,
            reverse=True,
        )
        result.best = max(supports, key=lambda s: s.strength, default=None)
        cited = [s for s in passing if s.passage.n in markers]  # markers naming no passage fall away here
        if cited:
            result.supports, result.verdict = cited, "kept"
        elif passing:
            result.supports, result.verdict = passing[:1], "recited"
        checked.append(result)
    return CheckResult(checked)


# ---------------------------------------------------------------- the final answer
def compose(result: CheckResult, lang: str) -> tuple[str, list[Citation]]:
    """Kept sentences in the asker's script, each followed by `[n]`; one Citation per cited
    passage sentence, numbered in order of first use (as in extractive answers)."""
    citations: list[Citation] = []
    number_of: dict[tuple[str, int], int] = {}
    parts = []
    for sentence in result.kept:
        markers = ""
        for s in sentence.supports:
            key = (s.passage.chunk.doc, s.sentence.start)
            if key not in number_of:
                number_of[key] = len(number_of) + 1
                chunk = s.passage.chunk
                citations.append(
                    Citation(
                        n=number_of[key],
                        doc=chunk.doc,
                        title=chunk.title,
                        section=chunk.section,
                        text=chunk.text,
                        start=s.sentence.start,
                        end=s.sentence.end,
                        quote=s.sentence.text,
                        passage_start=chunk.start,
                        passage_end=chunk.end,
                    )
                )
            markers += f"[{number_of[key]}]"
        parts.append(_terminated(_in_script(sentence.text, lang), lang) + markers)
    return (" " if lang == "en" else "").join(parts), citations


def _in_script(text: str, lang: str) -> str:
    if lang == "zh-Hant":
        return to_traditional(text)
    return to_simplified(text) if lang == "zh-Hans" else text


def _terminated(text: str, lang: str) -> str:
    text = text.rstrip("，,、：: ")
    if re.search(r"[。！？!?.；;]$", text):
        return text
    return text + ("." if lang == "en" else "。")
