"""The learned answer scorer: which sentence answers the question, and whether any does.

Both are fitted (`python -m eval train`: two logistic regressions on the tune splits of two
corpora), not hand-set. The sentence model gives each candidate sentence the probability that it
states the answer; the answerability model looks at the best sentence (its features, the sentence
model's confidence in it, its lead over the runner-up) and gives the probability that the question
is answered at all, which the abstention threshold is compared with. Weights, standardisation and
threshold live in `scorer_weights.json`, keyed by embedder, with the data and date of the fit.

Features of a (question, sentence) pair, all computed from the question's terms, the sentence,
its passage and its context (document title, section heading, the sentence before):
  cosine_zh / cosine_en   dense cosine of question and sentence (split: English questions meet
                          Chinese text through the embedder alone)
  cover, cover_own        IDF-weighted share of the question's terms in the sentence with / without
                          its heading
  missing_share           IDF-weighted share of the question's terms found neither in the
                          sentence nor in its context
  missing_rarest          1 when the question's rarest term (usually the name asked about) is
                          missing from sentence and context; less for a less rare missing term
  unknown_terms           IDF-weighted share of the question's terms no document contains
  focus_absent            the question names something the sentence (or the one before) does not
  passage_score, passage_relative, rank_reciprocal   how the passage ranked
  kind_asked, kind_present   the question asks a typed value (year, amount, …); the sentence holds one
  slot_filled, slot_unfilled  a how-much question's measure stated with a number near it, or not
  numbers_found           share of the question's own numbers in the sentence
  table_row, row_name_asked   the sentence is a table row; the question names one of its cells
                          exactly (the exact row, not a longer row name that contains the asked one)
  length                  log length
  dates_found, dates_other the question's years/months/days found in the sentence (share); the
                          sentence gives other dates and none of the asked ones
  grams_own, grams_sentence, grams_document   share of the question's character bigrams (question
                          words left out) in the sentence alone / with its context / anywhere in
                          its document: people ask in the text's own words, and a question about
                          something the document never mentions shares few of them
  grams_beyond_title      the same for the sentence alone, counting only the question's bigrams
                          that are not in the document title: what the question asks beyond the
                          topic every sentence of the document shares
  grams_unknown           share of the question's bigrams that no document contains: it asks
                          about something (a name, a place) the collection never mentions
  missing_elsewhere       the rarest question bigram missing from the sentence and its context
                          that other passages do contain (its rarity): the question names
                          something the collection states somewhere, but not here (二期 asked,
                          一期 stated) — unlike the asker's own words, which no passage holds
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from language.answer_types import asked_kind, bigram_share, content_bigrams, date_parts, holds_kind
from language.normalize import search_form
from qa_types import TABLE_CELL_SEPARATOR
from retrieval.features import QueryTerms, fills_quantity_slot
from retrieval.search import Candidate, HybridSearcher, ScoredSentence, section_leaf

WEIGHTS_FILE = Path(__file__).with_name("scorer_weights.json")

FEATURE_NAMES = (
    "cosine_zh",
    "cosine_en",
    "cover",
    "cover_own",
    "missing_share",
    "missing_rarest",
    "unknown_terms",
    "focus_absent",
    "passage_score",
    "passage_relative",
    "rank_reciprocal",
    "kind_asked",
    "kind_present",
    "slot_filled",
    "slot_unfilled",
    "numbers_found",
    "table_row",
    "row_name_asked",
    "length",
    "grams_own",
    "grams_beyond_title",
    "grams_sentence",
    "grams_document",
    "grams_unknown",
    "missing_elsewhere",
    "dates_found",
    "dates_other",
)
# Features of one sentence relative to the best of its question's pool (0 for the best, negative
# for the rest): which sentence matches best matters more than how well any sentence matches.
RELATIVE_TO_POOL = ("cosine_zh", "cosine_en", "cover", "grams_own", "grams_beyond_title")
POOL_FEATURE_NAMES = (*FEATURE_NAMES, *(f"{name}_vs_best" for name in RELATIVE_TO_POOL))


def with_pool_features(rows: list[list[float]]) -> list[list[float]]:
    """Each row followed by its RELATIVE_TO_POOL features minus the pool's best value of each."""
    if not rows:
        return []
    columns = [FEATURE_NAMES.index(name) for name in RELATIVE_TO_POOL]
    best = [max(row[c] for row in rows) for c in columns]
    return [[*row, *(row[c] - b for c, b in zip(columns, best))] for row in rows]


class ScorerUnavailableError(RuntimeError):
    pass


@dataclass
class QuestionContext:
    """What every sentence of one question is compared with, computed once per question."""

    terms: QueryTerms
    lang: str
    kind: str  # asked_kind of the question ('' for none)
    question_form: str  # the question's simplified search form
    grams: set[str]  # content_bigrams of the question
    dates: set[str]  # date_parts of the question
    grams_in_document: dict[str, float]  # doc id -> bigram_share of the question in that document
    grams_unknown: float  # share of the question's bigrams found in no document
    # bigram -> 1 - log(1 + chunks holding it) / log(1 + chunks), for the bigrams the collection has
    gram_rarity: dict[str, float]
    top_score: float


def question_context(
    question: str, terms: QueryTerms, lang: str, candidates: list[Candidate], searcher: HybridSearcher
) -> QuestionContext:
    """What every sentence of one question is compared with; `searcher` gives the collection
    statistics (whole documents, their bigrams, how many chunks hold a string)."""
    top = max((c.score for c in candidates), default=1.0)
    form = search_form(question)
    grams = content_bigrams(form) if lang != "en" else set()
    in_document = {c.chunk.doc: bigram_share(grams, searcher.document_forms.get(c.chunk.doc, "")) for c in candidates}
    unknown = sum(g not in searcher.corpus_bigrams for g in grams if len(g) == 2) / max(len(grams), 1)
    scale = math.log1p(max(len(searcher.chunks), 1))
    rarity = {g: 1.0 - math.log1p(df) / scale for g in grams if len(g) == 2 and (df := searcher.doc_freq(g))}
    return QuestionContext(
        terms,
        lang,
        asked_kind(form if lang != "en" else question),
        form,
        grams,
        date_parts(form),
        in_document,
        unknown,
        rarity,
        top if top > 0 else 1.0,
    )


def sentence_features(
    ctx: QuestionContext, candidate: Candidate, sentence: ScoredSentence, rank: int, previous: ScoredSentence | None
) -> list[float]:
    terms, english = ctx.terms, ctx.lang == "en"
    text = sentence.search_text
    title_form = search_form(candidate.chunk.title)
    context_text = "\n".join(
        (title_form, search_form(section_leaf(candidate.chunk.section)), previous.search_text if previous else "")
    )
    total = terms.total_weight
    missing = [t for t in terms.weights if t not in text and t not in context_text]
    missing_share = sum(terms.weights[t] for t in missing) / total if terms.weights and not english else 0.0
    # 1.0 when the question's rarest term is missing, less the further down the IDF ranking the
    # rarest missing term is.
    ranked = sorted(terms.weights, key=lambda t: (terms.weights[t], len(t)), reverse=True)
    missing_rarest = 0.0 if english or not missing else max(1.0 - ranked.index(t) / len(ranked) for t in missing)
    slot = terms.slot
    filled = slot is not None and fills_quantity_slot(text, slot)
    numbers = terms.numbers
    sentence_dates = date_parts(text)
    found_dates = len(ctx.dates & sentence_dates)
    return [
        0.0 if english else sentence.cosine,
        sentence.cosine if english else 0.0,
        0.0 if english else sentence.cover,
        0.0 if english else (sum(w for t, w in terms.weights.items() if t in sentence.tokens) / total),
        missing_share,
        missing_rarest,
        0.0 if english else terms.unknown_share,
        float(bool(terms.focus) and not sentence.has_focus),
        candidate.score,
        candidate.score / ctx.top_score,
        1.0 / (1 + rank),
        float(bool(ctx.kind)),
        float(bool(ctx.kind) and holds_kind(text, ctx.kind)),
        float(filled),
        float(slot is not None and not filled),
        (sum(n in text for n in numbers) / len(numbers)) if numbers else 0.0,
        float(candidate.chunk.kind == "table_row"),
        row_name_asked(text, ctx.question_form) if candidate.chunk.kind == "table_row" else 0.0,
        math.log1p(len(text)) / math.log1p(200),
        bigram_share(ctx.grams, text),
        bigram_share({g for g in ctx.grams if g not in title_form}, text),
        bigram_share(ctx.grams, text + "\n" + context_text),
        ctx.grams_in_document.get(candidate.chunk.doc, 0.0),
        ctx.grams_unknown,
        max((r for g, r in ctx.gram_rarity.items() if g not in text and g not in context_text), default=0.0),
        found_dates / len(ctx.dates) if ctx.dates else 0.0,
        float(bool(ctx.dates) and not found_dates and bool(sentence_dates)),
    ]


def row_name_asked(row_text: str, question_form: str) -> float:
    """The longest text cell of the row that the question contains, as a share of the row's
    longest text cell: 1.0 when the question names the row exactly."""
    cells = [c.strip() for c in row_text.split(TABLE_CELL_SEPARATOR)]
    names = [c for c in cells if len(c) >= 2 and not any(ch.isdigit() for ch in c)]
    if not names:
        return 0.0
    asked = max((len(c) for c in names if c in question_form), default=0)
    return asked / max(len(c) for c in names)


QUESTION_FEATURE_NAMES = (*POOL_FEATURE_NAMES, "best_logit", "best_margin")


def question_features(best_row: list[float], best: float, runner_up: float) -> list[float]:
    """The answerability model sees the best sentence's features, how sure the sentence model is
    of it (as a logit) and how far ahead of the next sentence it is."""
    clipped = min(max(best, 1e-6), 1 - 1e-6)
    return [*best_row, math.log(clipped / (1 - clipped)), best - runner_up]


@dataclass
class LogisticModel:
    """Standardise the features, then a logistic regression."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def probabilities(self, rows: list[list[float]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        x = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))

    def to_json(self) -> dict:
        return {
            "features": list(self.names),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "weights": {n: round(float(w), 6) for n, w in zip(self.names, self.weights)},
            "bias": round(float(self.bias), 6),
        }

    @classmethod
    def from_json(cls, names: tuple[str, ...], data: dict) -> LogisticModel:
        if list(data.get("features", [])) != list(names):
            raise ScorerUnavailableError(
                "the answer scorer was fitted on other features; refit it with: python -m eval train"
            )
        return cls(
            names,
            np.asarray(data["mean"], float),
            np.asarray(data["scale"], float),
            np.asarray([data["weights"][n] for n in names], float),
            float(data["bias"]),
        )

    @classmethod
    def constant(cls, names: tuple[str, ...]) -> LogisticModel:
        n = len(names)
        return cls(names, np.zeros(n), np.ones(n), np.zeros(n), 0.0)


@dataclass
class AnswerScorer:
    """Two fitted models: which sentence answers (`sentence`), and whether the question is
    answered at all by its best sentence (`answerable`), with the abstention threshold."""

    embedder: str
    sentence: LogisticModel
    answerable: LogisticModel
    threshold: float  # abstain when the answerable probability is below this
    info: dict

    def probabilities(self, rows: list[list[float]]) -> np.ndarray:
        """P(sentence answers the question), one per feature row."""
        return self.sentence.probabilities(rows)

    def support(self, best_row: list[float], best: float, runner_up: float) -> float:
        """P(the question is answered by its best sentence): compared with the threshold."""
        return float(self.answerable.probabilities([question_features(best_row, best, runner_up)])[0])

    def to_json(self) -> dict:
        return {
            "sentence": self.sentence.to_json(),
            "answerable": self.answerable.to_json(),
            "threshold": round(float(self.threshold), 4),
            **self.info,
        }

    @classmethod
    def untrained(cls, embedder: str) -> AnswerScorer:
        """Every sentence at 0.5, every question answered: what training starts from."""
        return cls(
            embedder,
            LogisticModel.constant(POOL_FEATURE_NAMES),
            LogisticModel.constant(QUESTION_FEATURE_NAMES),
            float("-inf"),
            {},
        )

    @classmethod
    def from_json(cls, embedder: str, data: dict) -> AnswerScorer:
        info = {k: v for k, v in data.items() if k not in ("sentence", "answerable", "threshold")}
        try:
            return cls(
                embedder,
                LogisticModel.from_json(POOL_FEATURE_NAMES, data["sentence"]),
                LogisticModel.from_json(QUESTION_FEATURE_NAMES, data["answerable"]),
                float(data["threshold"]),
                info,
            )
        except (KeyError, TypeError) as exc:
            raise ScorerUnavailableError(
                f"the answer scorer for {embedder!r} is incomplete ({exc}); refit it with: python -m eval train"
            ) from None


def weights_key(embedder: str, fitted: Iterable[str]) -> str | None:
    """The entry of the weights file that serves `embedder`: its own, else, for a quantised variant
    (embeddinggemma@int8) without one, its model's (the same questions asked of near vectors)."""
    fitted = set(fitted)
    base = embedder.partition("@")[0]
    return embedder if embedder in fitted else base if base in fitted else None


def load_scorer(embedder: str, path: Path = WEIGHTS_FILE) -> AnswerScorer:
    """The fitted scorer for this embedder; an embedder never fitted is an error saying what to run."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScorerUnavailableError(
            f"answer scorer weights unreadable at {path} ({exc}); fit them with: python -m eval train"
        ) from None
    key = weights_key(embedder, data)
    if key is None:
        raise ScorerUnavailableError(
            f"no answer scorer fitted for embedder {embedder!r} in {path}; fit one with: "
            f"python -m eval train --embedder {embedder}"
        )
    return AnswerScorer.from_json(embedder, data[key])


def save_scorer(scorer: AnswerScorer, path: Path = WEIGHTS_FILE) -> Path:
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[scorer.embedder] = scorer.to_json()
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
