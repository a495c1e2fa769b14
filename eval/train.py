"""Fit the answer scorer on the tune splits: `python -m eval train [--embedder NAME]`.

1. Every tune question of every training corpus is searched as the pipeline searches it; each
   sentence of its top passages becomes one row of features (answering.scorer.sentence_features),
   labelled 1 when it is evidence for the gold answer: it matches an evidence quote and states
   the answer (any `alternatives`/`must_include` string) or holds most of the quote. Sentences of
   unanswerable questions are all 0.
2. A logistic regression (scikit-learn) is fitted on the standardised rows. Each question weighs
   the same whatever its number of sentences, each corpus the same whatever its number of
   questions, and positives as much as negatives.
3. The pipeline then answers every tune question with abstention off and records the probability
   of its best sentence. The threshold is the cut that abstains on the most unanswerable tune
   questions while abstaining on at most MAX_FALSE_ABSTENTION of the answerable ones of each
   corpus, halfway between the two probabilities it separates.
The weights, the threshold and what they were fitted on go to answering/scorer_weights.json.
Test splits are never read here.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from config import REPO_ROOT, Config
from eval.gold import DEFAULT_GOLD, EVAL_DIR, GoldItem, load_gold
from eval.normalize import contains_normalised, covers
from eval.score import sentence_matches
from eval.split import select

MAX_FALSE_ABSTENTION = 0.03  # answerable tune questions we accept to abstain on (the CI ceiling is 0.05)
REGULARISATION_C = 1.0  # scikit-learn's default strength; the features are few and standardised
CMRC_DIR = EVAL_DIR / "corpora" / "cmrc2018-trial"


@dataclass(frozen=True)
class Corpus:
    name: str
    gold: Path
    seeds: Path


TRAINING_CORPORA = (
    Corpus("seeds", DEFAULT_GOLD, REPO_ROOT / "seeds"),
    Corpus("cmrc2018-trial", CMRC_DIR / "gold.jsonl", CMRC_DIR / "corpus"),
)


def is_evidence(item: GoldItem, doc: str, sentence: str) -> bool:
    """The sentence is where the gold answer is stated (see the module docstring)."""
    quotes = [e.quote for e in item.evidence if e.doc == doc]
    if not quotes or not any(sentence_matches(sentence, q) for q in quotes):
        return False
    answers = item.alternatives or item.must_include
    return any(contains_normalised(sentence, a) for a in answers) or any(covers(sentence, q) for q in quotes)


def question_rows(qa, item: GoldItem) -> tuple[list[list[float]], list[int]]:
    """Feature rows and labels of the sentences the pipeline would choose from for this question."""
    from answering.composer import ANSWER_PASSAGES
    from answering.scorer import question_context, sentence_features
    from language.normalize import detect_script, search_form

    lang = detect_script(item.question)
    query = search_form(item.question)
    candidates, terms = qa.searcher.search(query, qa._embed_query(query), lang, 10)
    ctx = question_context(item.question, terms, lang, candidates)
    rows, labels = [], []
    for rank, cand in enumerate(candidates[:ANSWER_PASSAGES]):
        doc_text = qa.searcher.documents_text[cand.chunk.doc]
        previous = None
        for s in cand.sentences:
            rows.append(sentence_features(ctx, cand, s, rank, previous))
            labels.append(int(item.answerable and is_evidence(item, cand.chunk.doc, doc_text[s.start:s.end])))
            previous = s
    return rows, labels


def choose_threshold(groups: dict[str, dict[str, list[float]]]) -> float:
    """Most unanswerable abstentions with at most MAX_FALSE_ABSTENTION per corpus (see docstring)."""
    answerable = [s for g in groups.values() for s in g["answerable"]]
    unanswerable = [s for g in groups.values() for s in g["unanswerable"]]
    cuts = sorted(set(answerable + unanswerable))
    best, best_key = 0.0, (-1.0, 0.0)
    for low, high in zip([None] + cuts, cuts + [None]):
        if high is None:
            continue
        threshold = high - 1e-6 if low is None else (low + high) / 2
        false = [sum(s < threshold for s in g["answerable"]) / max(len(g["answerable"]), 1) for g in groups.values()]
        if max(false) > MAX_FALSE_ABSTENTION:
            continue
        key = (sum(s < threshold for s in unanswerable) / max(len(unanswerable), 1), -max(false))
        if key > best_key:
            best, best_key = threshold, key
    return round(best, 4)


def train(config: Config, embedder: str | None = None, corpora=TRAINING_CORPORA, log=print) -> dict:
    from sklearn.linear_model import LogisticRegression

    from answering.pipeline import QA
    from answering.scorer import AnswerScorer, save_scorer
    from eval.corpus_index import config_for_corpus

    embedder = embedder or config.embedder
    xs, ys, ws, loaded = [], [], [], []
    for corpus in corpora:
        items = [i for i in select(load_gold(corpus.gold), "tune") if i.first_question is None]
        qa = QA.load(config_for_corpus(config, corpus.seeds, embedder), embedder=embedder, llm=False,
                     scorer=AnswerScorer.untrained(embedder))
        loaded.append((corpus, qa, items))
        started, rows_before = time.perf_counter(), len(xs)
        for item in items:
            rows, labels = question_rows(qa, item)
            xs.extend(rows)
            ys.extend(labels)
            ws.extend([1.0 / (len(rows) * len(items))] * len(rows))
        log(f"{corpus.name}: {len(items)} tune questions, {len(xs) - rows_before} sentences, "
            f"{sum(ys[rows_before:])} evidence ({time.perf_counter() - started:.0f} s)")
    x, y, w = np.asarray(xs), np.asarray(ys), np.asarray(ws)
    w[y == 1] *= w[y == 0].sum() / w[y == 1].sum()  # positives weigh as much as negatives
    w *= len(w) / w.sum()
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=REGULARISATION_C, max_iter=2000).fit((x - mean) / scale, y, sample_weight=w)
    info = {"fitted": time.strftime("%Y-%m-%d"), "data": {c.name: {"gold": _shown(c.gold), "split": "tune",
                                                                    "questions": len(items)}
                                                           for c, _, items in loaded},
            "rows": int(len(y)), "positives": int(y.sum()), "max_false_abstention": MAX_FALSE_ABSTENTION}
    scorer = AnswerScorer(embedder, mean, scale, model.coef_[0], float(model.intercept_[0]), float("-inf"), info)

    groups = {}
    for corpus, qa, items in loaded:
        qa.scorer = scorer
        group = groups.setdefault(corpus.name, {"answerable": [], "unanswerable": []})
        for item in items:
            answer = qa.ask(item.question)
            group["answerable" if item.answerable else "unanswerable"].append(answer.support)
    scorer.threshold = choose_threshold(groups)
    scorer.info["tune_abstention"] = {
        name: {"abstention": round(sum(s < scorer.threshold for s in g["unanswerable"]) / max(len(g["unanswerable"]), 1), 3),
               "false_abstention": round(sum(s < scorer.threshold for s in g["answerable"]) / max(len(g["answerable"]), 1), 3)}
        for name, g in groups.items()}
    path = save_scorer(scorer)
    return {"embedder": embedder, "file": str(path), **scorer.to_json()}


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit("run: python -m eval train")
