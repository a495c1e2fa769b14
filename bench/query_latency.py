"""Query latency in process: QA.retrieve (retrieval alone) and QA.ask (the full extractive answer)
over every question of eval/gold.jsonl, with the model loaded and the first call excluded.

QA keeps an LRU cache of query vectors, so it is cleared before each pass: every measured call
embeds its question. A last pass repeats ask() with the cache full, to show what a repeated
question costs (the HTTP benchmark's long run repeats questions).
"""
from __future__ import annotations

import time

from bench.report import Section, Table
from bench.timing import Latency, ms, ratio
from bench.workspace import EMBEDDERS, Workspace
from config import REPO_ROOT


def gold_questions() -> list[str]:
    from eval.gold import load_gold

    return [item.question for item in load_gold(REPO_ROOT / "eval" / "gold.jsonl")]


def _pass(call, questions: list[str]) -> Latency:
    samples = []
    for question in questions:
        started = time.perf_counter()
        call(question)
        samples.append((time.perf_counter() - started) * 1000)
    return Latency(samples)


def run(ws: Workspace, quick: bool = False) -> Section:
    from retrieval.pipeline import QA

    section = Section("Query latency in process (model loaded)")
    questions = gold_questions()
    if quick:
        questions = questions[:40]
    warm_up, measured = questions[0], questions[1:]
    rows = []
    for embedder in EMBEDDERS:
        qa = QA.load(ws.config(embedder, ws.index_for(embedder)), llm=False)
        qa.ask(warm_up)
        qa._embed_query.cache_clear()
        retrieve = _pass(qa.retrieve, measured)
        qa._embed_query.cache_clear()
        ask = _pass(qa.ask, measured)
        ask_cached = _pass(qa.ask, measured)  # every query vector now cached
        embed = _pass(lambda q: qa.embedder.embed_queries([q]), measured)
        for label, latency in (("QA.retrieve", retrieve), ("QA.ask", ask),
                               ("QA.ask, question seen before (query vector cached)", ask_cached),
                               ("embed_queries alone", embed)):
            rows.append([embedder, label, str(latency.n), ms(latency.p50), ms(latency.p95), ms(latency.mean),
                         ratio(latency.p50, ask.p50)])
    section.tables.append(Table(["embedder", "what", "questions", "p50 ms", "p95 ms", "mean ms",
                                 "p50 / QA.ask p50"], rows))
    section.notes += [
        f"{len(measured)} gold questions (simplified, traditional and English), one at a time; "
        "the first question is a warm-up and not counted.",
        "QA.ask here is the extractive answer (no LLM configured), as served by /api/ask.",
    ]
    return section
