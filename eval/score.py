"""Score a results file against its gold set.

Each item is judged once (`judge_item`); metrics are then aggregated over any group of judgements
(`aggregate`): all items, each question type, each language. All text comparisons go through
`eval.normalize` ("covers" = longest common substring >= 60% of the normalised quote).

Metrics (None when their denominator is empty):
  hit@1/3/5/10, mrr     answerable items; rank of the first of the top-10 retrieved passages that
                        covers any evidence quote of the item (reciprocal rank 0 when none does)
  citation_precision    citations of answered answerable items whose passage covers a quote
  citation_sentence_precision
                        the same judged on the cited sentence alone: the sentence covers a quote,
                        or lies (>= 60%) inside one
  citation_recall       answerable items whose citations together cover every evidence quote
  answer_accuracy       answerable items, not abstained, whose answer contains every must_include
                        string (normalised), or any one of the item's `alternatives` when it has
                        them; denominator all answerable items
  answer_accuracy_answered   the same among answered answerable items
  abstention            unanswerable items abstained
  false_abstention      answerable items abstained
  latency_p50_ms, latency_p95_ms
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from eval.gold import LANGS, TYPES, GoldItem
from eval.normalize import contains_normalised, covers

HIT_KS = (1, 3, 5, 10)
RETRIEVAL_DEPTH = 10
# metric name -> True when higher is better (used by tables and the report)
METRICS: dict[str, bool] = {
    **{f"hit@{k}": True for k in HIT_KS},
    "mrr": True,
    "citation_precision": True,
    "citation_sentence_precision": True,
    "citation_recall": True,
    "answer_accuracy": True,
    "answer_accuracy_answered": True,
    "abstention": True,
    "false_abstention": False,
    "latency_p50_ms": False,
    "latency_p95_ms": False,
}
MISS_KINDS = (
    "hit@1",
    "hit@5",
    "citation_precision",
    "citation_recall",
    "answer",
    "false_abstention",
    "missed_abstention",
)


class ResultsMismatchError(ValueError):
    """Results and gold do not describe the same questions."""


@dataclass
class ItemJudgement:
    id: str
    type: str
    lang: str
    answerable: bool
    abstained: bool
    rank: int | None  # 1-based rank of the first covering retrieved passage, None if not in top 10
    citations: int
    citations_covering: int  # judged on the passage text
    sentences_covering: int  # judged on the cited sentence
    quotes_covered: bool  # the citations together cover every evidence quote
    answer_correct: bool
    latency_ms: float


def judge_item(item: GoldItem, row: dict) -> ItemJudgement:
    quotes = [e.quote for e in item.evidence]
    citations = row["citations"]
    passages = [c.get("passage") or c["text"] for c in citations]
    sentences = [c["text"] for c in citations]
    answered = not row["abstained"]
    return ItemJudgement(
        id=item.id,
        type=item.type,
        lang=item.lang,
        answerable=item.answerable,
        abstained=row["abstained"],
        rank=first_covering_rank([r["text"] for r in row["retrieved"]], quotes),
        citations=len(citations),
        citations_covering=sum(any(covers(p, q) for q in quotes) for p in passages),
        sentences_covering=sum(any(sentence_matches(s, q) for q in quotes) for s in sentences),
        quotes_covered=bool(quotes) and all(any(covers(p, q) for p in passages) for q in quotes),
        answer_correct=item.answerable and answered and answer_is_right(item, row["answer"]),
        latency_ms=float(row["latency_ms"]),
    )


# The answer's citation markers ([1], [2] after each quoted sentence) are references, not content:
# a gold answer running across two quoted sentences must match with the marker between them gone.
CITATION_MARKER = re.compile(r"\[\d{1,2}\]")


def answer_is_right(item: GoldItem, answer: str) -> bool:
    answer = CITATION_MARKER.sub("", answer)
    if item.alternatives:
        return any(contains_normalised(answer, a) for a in item.alternatives)
    return all(contains_normalised(answer, m) for m in item.must_include)


def first_covering_rank(retrieved_texts: list[str], quotes: list[str]) -> int | None:
    for rank, text in enumerate(retrieved_texts[:RETRIEVAL_DEPTH], start=1):
        if any(covers(text, q) for q in quotes):
            return rank
    return None


def sentence_matches(sentence: str, quote: str) -> bool:
    """A cited sentence is evidence when it covers the quote or lies mostly inside it."""
    return covers(sentence, quote) or covers(quote, sentence)


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def aggregate(judgements: list[ItemJudgement]) -> dict:
    """Metrics, counts and miss ids for one group of judged items."""
    answerable = [j for j in judgements if j.answerable]
    unanswerable = [j for j in judgements if not j.answerable]
    answered = [j for j in answerable if not j.abstained]
    citations = sum(j.citations for j in answered)
    latencies = [j.latency_ms for j in judgements]

    metrics: dict[str, float | None] = {}
    for k in HIT_KS:
        metrics[f"hit@{k}"] = _share(sum(j.rank is not None and j.rank <= k for j in answerable), len(answerable))
    metrics["mrr"] = (sum(1.0 / j.rank for j in answerable if j.rank) / len(answerable)) if answerable else None
    metrics["citation_precision"] = _share(sum(j.citations_covering for j in answered), citations)
    metrics["citation_sentence_precision"] = _share(sum(j.sentences_covering for j in answered), citations)
    metrics["citation_recall"] = _share(sum(j.quotes_covered for j in answerable), len(answerable))
    metrics["answer_accuracy"] = _share(sum(j.answer_correct for j in answerable), len(answerable))
    metrics["answer_accuracy_answered"] = _share(sum(j.answer_correct for j in answered), len(answered))
    metrics["abstention"] = _share(sum(j.abstained for j in unanswerable), len(unanswerable))
    metrics["false_abstention"] = _share(sum(j.abstained for j in answerable), len(answerable))
    metrics["latency_p50_ms"] = float(np.percentile(latencies, 50)) if latencies else None
    metrics["latency_p95_ms"] = float(np.percentile(latencies, 95)) if latencies else None

    misses = {
        "hit@1": [j.id for j in answerable if j.rank is None or j.rank > 1],
        "hit@5": [j.id for j in answerable if j.rank is None or j.rank > 5],
        "citation_precision": [j.id for j in answered if j.citations_covering < j.citations],
        "citation_recall": [j.id for j in answerable if not j.quotes_covered],
        "answer": [j.id for j in answerable if not j.answer_correct],
        "false_abstention": [j.id for j in answerable if j.abstained],
        "missed_abstention": [j.id for j in unanswerable if not j.abstained],
    }
    return {
        "n": len(judgements),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "n_answered": len(answered),
        "n_citations": citations,
        "metrics": metrics,
        "misses": misses,
    }


def pair_rows_with_items(items: list[GoldItem], rows: list[dict]) -> list[tuple[GoldItem, dict]]:
    """Match results rows to gold items by id; every gold item needs exactly one row and vice versa."""
    by_id: dict[str, dict] = {}
    for row in rows:
        if row["id"] in by_id:
            raise ResultsMismatchError(f"results hold id {row['id']!r} more than once")
        by_id[row["id"]] = row
    gold_ids = {item.id for item in items}
    missing = [item.id for item in items if item.id not in by_id]
    extra = [row_id for row_id in by_id if row_id not in gold_ids]
    if missing or extra:
        raise ResultsMismatchError(
            "results do not match the gold set: "
            + (f"no result for {', '.join(map(str, missing[:20]))}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"not in gold: {', '.join(map(str, extra[:20]))}" if extra else "")
        )
    return [(item, by_id[item.id]) for item in items]


def score(items: list[GoldItem], rows: list[dict]) -> dict:
    """The full scorecard: overall, by type, by language, and the per-item judgements."""
    judgements = [judge_item(item, row) for item, row in pair_rows_with_items(items, rows)]
    return {
        "overall": aggregate(judgements),
        "by_type": {
            t: aggregate([j for j in judgements if j.type == t]) for t in TYPES if any(j.type == t for j in judgements)
        },
        "by_lang": {
            lang: aggregate([j for j in judgements if j.lang == lang])
            for lang in LANGS
            if any(j.lang == lang for j in judgements)
        },
        "items": [asdict(j) for j in judgements],
    }
