"""Query latency in process: QA.retrieve (retrieval alone) and QA.ask (the full extractive answer)
over every question of eval/gold.jsonl, with the model loaded and the first call excluded.

QA keeps caches that change what a question costs, so each pass says which are warm:
- query vectors (an LRU keyed by the question's search form): a repeated question skips the model;
- per-sentence search forms and per-token document frequencies in the searcher: filled the first
  time a sentence is reranked or a word is asked about, so a freshly started server is slower
  than one that has answered a few hundred questions.
"cold" passes use a freshly loaded QA (the model itself stays loaded: it is cached per process).
"""

from __future__ import annotations

import os
import time

from bench.report import Section, Table
from bench.timing import Latency, ms, ratio
from bench.workspace import EMBEDDERS, Workspace
from config import REPO_ROOT

BATCH = 8
WARM_UP_PREFIX = "请问"  # a paraphrase: warms the searcher's caches, not the query-vector cache


def gold_questions() -> list[str]:
    from eval.gold import load_gold

    return [item.question for item in load_gold(REPO_ROOT / "eval" / "gold.jsonl")]


def paraphrase(question: str) -> str:
    """The same question in other words, so its query vector is not the one cached for it."""
    return WARM_UP_PREFIX + question


def _pass(call, questions: list[str]) -> Latency:
    samples = []
    for question in questions:
        started = time.perf_counter()
        call(question)
        samples.append((time.perf_counter() - started) * 1000)
    return Latency(samples)


def _batched_embedding(embedder, questions: list[str]) -> Latency:
    """Per-question time when BATCH questions are embedded in one call: what batching the
    concurrent requests of a busy server would cost per answer."""
    samples = []
    for start in range(0, len(questions) - BATCH + 1, BATCH):
        started = time.perf_counter()
        embedder.embed_queries(questions[start : start + BATCH])
        samples += [(time.perf_counter() - started) * 1000 / BATCH] * BATCH
    return Latency(samples)


def _fresh_qa(ws: Workspace, embedder: str, warm_up: str):
    from answering.pipeline import QA

    qa = QA.load(ws.config(embedder, ws.index_for(embedder)), llm=False)
    qa.ask(warm_up)
    return qa


def run(ws: Workspace, quick: bool = False) -> Section:
    section = Section("Query latency in process (model loaded)")
    questions = gold_questions()
    if quick:
        questions = questions[:40]
    warm_up, measured = questions[0], questions[1:]
    rows = []
    for embedder in EMBEDDERS:
        retrieve_cold = _pass(_fresh_qa(ws, embedder, warm_up).retrieve, measured)
        qa = _fresh_qa(ws, embedder, warm_up)
        ask_cold = _pass(qa.ask, measured)
        ask_repeated = _pass(qa.ask, measured)  # every cache now holds these questions
        qa = _fresh_qa(ws, embedder, warm_up)
        _pass(lambda q: qa.ask(paraphrase(q)), measured)  # noqa: B023 (called before qa is rebound)
        ask_warm = _pass(qa.ask, measured)
        embed = _pass(lambda q: qa.embedder.embed_queries([q]), measured)  # noqa: B023 (called before qa is rebound)
        batched = _batched_embedding(qa.embedder, measured)
        load = f"{os.getloadavg()[0]:.1f}"
        for label, latency in (
            ("QA.retrieve, fresh QA", retrieve_cold),
            ("QA.ask, fresh QA", ask_cold),
            ("QA.ask, warm searcher, new question", ask_warm),
            ("QA.ask, question asked before", ask_repeated),
            ("embed_queries alone", embed),
            (f"embed_queries, {BATCH} questions per call (per question)", batched),
        ):
            rows.append(
                [
                    embedder,
                    label,
                    str(latency.n),
                    ms(latency.p50),
                    ms(latency.p95),
                    ms(latency.mean),
                    ratio(latency.p50, ask_warm.p50),
                    load,
                ]
            )
    section.tables.append(
        Table(
            [
                "embedder",
                "what",
                "questions",
                "p50 ms",
                "p95 ms",
                "mean ms",
                "p50 / warm QA.ask p50",
                "load (1 min) after",
            ],
            rows,
        )
    )
    section.notes += [
        f"{len(measured)} gold questions (simplified, traditional and English), one at a time, one client; "
        "a warm-up question before each pass is not counted.",
        "fresh QA = just loaded: the searcher computes each sentence's search form (OpenCC) and each new "
        "word's document frequency the first time it needs them. warm searcher = after one pass over "
        f"paraphrases of the same questions ('{WARM_UP_PREFIX}' + question), so those caches are full but "
        "every measured question still goes through the embedding model: the steady state of a server "
        "that has been answering for a while. question asked before = every cache hit.",
        "QA.ask here is the extractive answer (no LLM configured), as served by /api/ask.",
    ]
    return section
