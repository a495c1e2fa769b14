"""CI gate: our system, with the default embedder (config.embedder), must stay at or past these
limits on the TEST split of both corpora (the seeds with eval/gold.jsonl, and CMRC 2018 trial).

Runs the harness through the same functions as `python -m eval report`: load_gold ->
select(..., "test") -> load_system (over eval.report.corpus_config: the corpus's documents and
its cached index) -> run_items -> score. A limit is a floor for a metric where higher is better
and a ceiling where lower is better (`false_abstention`), as `eval.score.METRICS` says.
"""

from __future__ import annotations

import pytest

# Floors measured on the TEST split of each corpus (eval.split.select(items, "test")), default embedder.
# They must only ever be raised as the system improves; never lower one to make a change pass.
# (For false_abstention, the only lower-is-better entry, "raise" means bring the ceiling down.)
# Seeds: re-measured on 2026-12-08 when eval/gold.jsonl grew from 289 to 409 questions (g300-g419,
# written that day: 40 near-miss unanswerable, 80 answerable; 68 of them fell in test, which went
# from 138 to 206 questions). The committed system of that morning, unchanged, measured on the new
# test split hit@1 0.883, acc 0.825, abstention 0.580, false abstention 0.073: below the floors set
# on the old 138, which therefore no longer described it. The floors below are one question of slack
# under the system refitted on the new tune split (eval/REPORT.md of 2026-12-08).
# CMRC: set on 2026-11-27 (408 test questions), precision, recall and accuracy raised on 2026-12-08.
# All far under the targets of issue 11 (accuracy >= 0.92 / 0.90, abstention >= 0.90 / 0.85).
FLOORS = {
    "seeds": {  # measured: hit@5 0.978, hit@1 0.883, P 0.935, R 0.832, acc 0.818, abst 0.609, FA 0.080
        "hit@5": 0.97,
        "hit@1": 0.87,
        "citation_precision": 0.92,
        "citation_recall": 0.82,
        "answer_accuracy": 0.81,
        "abstention": 0.59,  # share of unanswerable questions declined
        "false_abstention": 0.088,  # ceiling: share of answerable questions wrongly declined
    },
    "cmrc": {  # measured: hit@5 1.000, hit@1 0.961, P 0.959, R 0.958, acc 0.830, abst 0.808, FA 0.018
        "hit@5": 0.99,
        "hit@1": 0.95,
        "citation_precision": 0.95,
        "citation_recall": 0.95,
        "answer_accuracy": 0.82,
        "abstention": 0.80,
        "false_abstention": 0.02,  # ceiling
    },
}


def limit_failures(metrics: dict, limits: dict) -> list[str]:
    """Every metric past its limit, as 'name = value, floor/ceiling limit'."""
    from eval.score import METRICS

    failures = []
    for name, limit in limits.items():
        value, higher_is_better = metrics[name], METRICS[name]
        if value is None or (value < limit if higher_is_better else value > limit):
            shown = "n/a" if value is None else f"{value:.3f}"
            failures.append(f"{name} = {shown}, {'floor' if higher_is_better else 'ceiling'} {limit}")
    return failures


def test_limit_failures_lists_every_metric_past_its_limit():
    metrics = {"hit@5": 0.90, "hit@1": 0.99, "abstention": None, "false_abstention": 0.10}
    limits = {"hit@5": 0.95, "hit@1": 0.80, "abstention": 0.5, "false_abstention": 0.08}
    assert limit_failures(metrics, limits) == [
        "hit@5 = 0.900, floor 0.95",
        "abstention = n/a, floor 0.5",
        "false_abstention = 0.100, ceiling 0.08",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("corpus_name", list(FLOORS))
def test_quality_gate(corpus_name):
    from config import Config
    from eval.gold import load_gold
    from eval.report import corpora_for, corpus_config
    from eval.run import load_system, run_items
    from eval.score import score
    from eval.split import select
    from eval.tables import format_scorecard

    try:
        import answering.pipeline  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"answering.pipeline is not importable yet ({exc}); the gate needs the real system")

    config = Config.from_env()
    (corpus,) = corpora_for(config, [corpus_name])
    items = select(load_gold(corpus.gold), "test")
    assert items, f"the test split of {corpus.gold} is empty"
    system = load_system("ours", corpus_config(config, corpus, None), embedder=None, llm=False)
    scorecard = score(items, run_items(system, items, label=f"gate {corpus_name}"))

    failures = limit_failures(scorecard["overall"]["metrics"], FLOORS[corpus_name])
    assert not failures, (
        f"quality gate failed on the {corpus_name} test split ({len(items)} questions, "
        f"embedder {config.embedder}):\n  " + "\n  ".join(failures) + "\n\n" + format_scorecard(scorecard)
    )
