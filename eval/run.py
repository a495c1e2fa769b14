"""Ask every gold question of a system and collect one results row per question.

A system is anything with `.ask(question, history=None) -> qa_types.Answer`: our pipeline
(`answering.pipeline.QA`) or one of the baselines in `eval.baselines`. For a follow-up item the
first question is asked first and the exchange is passed as history; only the follow-up is timed.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol

from tqdm import tqdm

from config import Config
from eval.gold import GoldItem
from eval.results import answer_to_row
from qa_types import Answer

SYSTEMS = ("ours", "naive", "bm25")


class AnswersQuestions(Protocol):
    def ask(self, question: str, history: list[dict] | None = None) -> Answer: ...


def load_system(name: str, config: Config, embedder: str | None = None, llm: bool = False) -> AnswersQuestions:
    """Build a system by name; models and indexes are loaded once, here."""
    if name == "ours":
        from answering.pipeline import QA  # imported late: the baselines must not need it

        return QA.load(config, embedder=embedder, llm=llm)
    if llm:
        raise ValueError(f"--llm applies only to the 'ours' system, not {name!r}")
    if name == "naive":
        from eval.baselines import NaiveLangChainBaseline

        return NaiveLangChainBaseline.build(config, embedder or config.embedder)
    if name == "bm25":
        from eval.baselines import BM25Baseline

        return BM25Baseline.build(config)
    raise ValueError(f"unknown system {name!r}; expected one of {', '.join(SYSTEMS)}")


def history_for(item: GoldItem, system: AnswersQuestions) -> list[dict] | None:
    """The conversation so far for a follow-up item (asking the first question now), else None."""
    if item.first_question is None:
        return None
    first_answer = system.ask(item.first_question, history=None)
    return [{"role": "user", "content": item.first_question}, {"role": "assistant", "content": first_answer.answer}]


def run_items(
    system: AnswersQuestions, items: list[GoldItem], label: str = "questions", progress: bool = True
) -> list[dict]:
    """One results row per item, in gold order; a failing question stops the run, naming its id."""
    rows = []
    for item in tqdm(items, desc=label, unit="q", file=sys.stderr, disable=not progress):
        try:
            history = history_for(item, system)
            started = time.perf_counter()
            answer = system.ask(item.question, history=history)
            latency_ms = (time.perf_counter() - started) * 1000.0
        except Exception as exc:
            raise RuntimeError(f"{label}: question {item.id!r} failed: {exc}") from exc
        rows.append(answer_to_row(item.id, item.question, answer, latency_ms))
    return rows
