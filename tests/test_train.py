"""The scorer's fitting functions on small synthetic data: no index, no model."""

import numpy as np

from answering.scorer import (
    FEATURE_NAMES,
    POOL_FEATURE_NAMES,
    QUESTION_FEATURE_NAMES,
    question_features,
    with_pool_features,
)
from eval.train import CROSS_FIT_FOLDS, MAX_FALSE_ABSTENTION, fit_models, fold_of, held_out_summary, without_evidence

COSINE = FEATURE_NAMES.index("cosine_zh")


def row(cosine: float) -> list[float]:
    values = [0.0] * len(FEATURE_NAMES)
    values[COSINE] = cosine
    return values


def pool(*cosines: float) -> list[list[float]]:
    return with_pool_features([row(c) for c in cosines])


def test_without_evidence_drops_evidence_and_answer_stating_rows_and_recomputes_the_pool():
    rows = pool(0.9, 0.8, 0.5)
    left = without_evidence(rows, labels=[1, 0, 0], states=[True, True, False])
    assert len(left) == 1 and len(left[0]) == len(POOL_FEATURE_NAMES)
    assert left[0][COSINE] == 0.5
    assert left[0][POOL_FEATURE_NAMES.index("cosine_zh_vs_best")] == 0.0  # now the best of its pool


def test_fit_models_learns_which_sentence_answers_and_which_questions_are_answered():
    rng = np.random.default_rng(0)
    questions = []
    for corpus in ("a", "b"):
        for _ in range(30):  # answerable: the evidence has a clearly higher cosine
            high, low = rng.uniform(0.7, 0.9), rng.uniform(0.1, 0.3)
            questions.append((corpus, True, pool(high, low, low), [1, 0, 0]))
        for _ in range(30):  # unanswerable: nothing stands out
            questions.append((corpus, False, pool(*rng.uniform(0.1, 0.3, 3)), [0, 0, 0]))
    sentence, answerable = fit_models(questions, taken_out=[])
    assert sentence.names == POOL_FEATURE_NAMES and answerable.names == QUESTION_FEATURE_NAMES
    p = sentence.probabilities(pool(0.8, 0.2, 0.2))
    assert p[0] > p[1] and p[0] > p[2]
    clear = question_features(pool(0.8, 0.2)[0], 0.9, 0.1)
    vague = question_features(pool(0.2, 0.2)[0], 0.3, 0.3)
    assert answerable.probabilities([clear])[0] > answerable.probabilities([vague])[0]


def test_cross_fitting_folds_are_stable_and_cover_every_fold():
    ids = [f"g{n:03d}" for n in range(200)]
    folds = [fold_of("seeds", i) for i in ids]
    assert folds == [fold_of("seeds", i) for i in ids]  # the same fold on every run
    counts = np.bincount(folds, minlength=CROSS_FIT_FOLDS)
    assert len(counts) == CROSS_FIT_FOLDS and counts.min() >= 200 / CROSS_FIT_FOLDS / 2
    # the corpus is part of the key: the same id in another corpus is placed independently
    assert [fold_of("cmrc", i) for i in ids] != folds


def test_held_out_summary_scores_every_corpus_at_one_threshold():
    """Supports of held-out tune questions: the threshold declines the most unanswerable ones while
    no corpus loses more than MAX_FALSE_ABSTENTION of its answerable ones; answered questions count
    as right only when their answer is."""
    answerable_a = [(True, 0.5 + i / 100, True) for i in range(30)]  # 0.50 .. 0.79
    answers = {
        "a": answerable_a + [(False, 0.1, False), (False, 0.2, False), (False, 0.7, False)],
        "b": [(True, 0.3, True)] + [(True, 0.9, i % 2 == 0) for i in range(49)] + [(False, 0.05, False)],
    }
    summary = held_out_summary(answers)
    assert 1 / 50 <= MAX_FALSE_ABSTENTION < 1 / 30  # b may lose one answerable question, a none
    # Under 0.5 (a's lowest answerable); 0.2-0.3 declines as many unanswerable ones as 0.3-0.5 at less cost
    assert 0.2 < summary["threshold"] <= 0.3
    assert summary["a"] == {
        "questions": 33,
        "max_false_abstention": MAX_FALSE_ABSTENTION,
        "abstention": 0.667,
        "false_abstention": 0.0,
        "answer_accuracy": 1.0,
    }
    assert summary["b"]["abstention"] == 1.0 and summary["b"]["false_abstention"] == 0.0
    assert summary["b"]["answer_accuracy"] == round(26 / 50, 3)  # the 0.3 one and 25 of the 49
