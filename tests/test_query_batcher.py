"""embedding.query_batcher: concurrent questions share model calls, each gets its own vector."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from embedding.query_batcher import QueryBatcher


class SlowModel:
    """Stands in for the embedding model: a vector that encodes the text, and a fixed cost per call."""

    def __init__(self, seconds_per_call: float = 0.05) -> None:
        self.seconds_per_call = seconds_per_call
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        time.sleep(self.seconds_per_call)
        return np.array([[float(len(t)), float(sum(map(ord, t)))] for t in texts], dtype=np.float32)


def expected(text: str) -> list[float]:
    return [float(len(text)), float(sum(map(ord, text)))]


def test_one_question_is_embedded_at_once_on_its_own():
    model = SlowModel()
    vector = QueryBatcher(model).embed("小米汽车在哪里")
    assert vector.tolist() == expected("小米汽车在哪里")
    assert model.calls == [["小米汽车在哪里"]]


def test_concurrent_questions_share_calls_and_each_gets_its_own_vector():
    model = SlowModel()
    batcher = QueryBatcher(model)
    questions = [f"问题{i}" * (i + 1) for i in range(24)]
    with ThreadPoolExecutor(max_workers=24) as pool:
        vectors = list(pool.map(batcher.embed, questions))
    assert [v.tolist() for v in vectors] == [expected(q) for q in questions]
    assert sorted(t for call in model.calls for t in call) == sorted(questions), "each question embedded once"
    assert len(model.calls) < len(questions) / 2, f"{len(model.calls)} calls for {len(questions)} questions"
    assert max(len(call) for call in model.calls) <= 16


def test_batch_size_is_capped():
    model = SlowModel()
    batcher = QueryBatcher(model, max_batch=3)
    with ThreadPoolExecutor(max_workers=10) as pool:
        vectors = list(pool.map(batcher.embed, [str(i) for i in range(10)]))
    assert [v.tolist() for v in vectors] == [expected(str(i)) for i in range(10)]
    assert max(len(call) for call in model.calls) <= 3


def test_a_failing_call_raises_in_every_waiting_thread_and_the_next_call_works():
    failures = {"left": 1}
    model = SlowModel()

    def flaky(texts):
        if failures["left"]:
            failures["left"] -= 1
            time.sleep(0.05)
            raise RuntimeError("model crashed")
        return model(texts)

    batcher = QueryBatcher(flaky)
    errors, started = [], threading.Barrier(4)

    def ask(text):
        started.wait()
        try:
            return batcher.embed(text)
        except RuntimeError as exc:
            errors.append(str(exc))

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(ask, ["a", "b", "c", "d"]))
    assert errors and all(e == "model crashed" for e in errors)
    assert all(r is None or r.tolist() == expected(t) for r, t in zip(results, "abcd"))
    assert batcher.embed("again").tolist() == expected("again")


def test_a_model_returning_too_few_rows_is_an_error_not_a_wrong_vector():
    batcher = QueryBatcher(lambda texts: np.zeros((0, 2), dtype=np.float32))
    with pytest.raises(ValueError):
        batcher.embed("x")
