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
# Set on 2026-11-27 from eval/REPORT.md (EmbeddingGemma; seeds test 138 questions since g210-g289
# were added, CMRC test 408), one question of slack below each measured value; seeds abstention
# raised to 0.61 after the series/office rules (REPORT at 2026-11-27 23:00). They are far under
# the targets of issue 11 (answer accuracy >= 0.92 / 0.90, abstention >= 0.90 / 0.85): raise them
# as the system gets there.
FLOORS = {
    "seeds": {  # measured: hit@5 0.978, hit@1 0.879, P 0.927, R 0.868, acc 0.846, abst 0.638, FA 0.044
        "hit@5": 0.96,
        "hit@1": 0.86,
        "citation_precision": 0.91,
        "citation_recall": 0.85,
        "answer_accuracy": 0.83,
        "abstention": 0.61,  # share of unanswerable questions declined
        "false_abstention": 0.056,  # ceiling: share of answerable questions wrongly declined
    },
    "cmrc": {  # measured: hit@5 1.000, hit@1 0.961, P 0.948, R 0.953, acc 0.819, abst 0.846, FA 0.013
        "hit@5": 0.99,
        "hit@1": 0.95,
        "citation_precision": 0.93,
        "citation_recall": 0.94,
        "answer_accuracy": 0.81,
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
