"""Query embeddings for many threads at once, computed in shared batches.

Each server thread answering a question needs one query vector. Embedding them one at a time
leaves the model's fixed per-call cost on every question, and running them side by side only
makes two-core torch calls fight for the same cores. Instead, whichever thread arrives while the
model is idle embeds its question at once (no added wait when traffic is light); questions that
arrive meanwhile queue up and the next free thread embeds all of them in one batch (group commit).
EmbeddingGemma on 2 cores: ≈ 83 ms for one question, ≈ 36 ms per question in batches of 8
(bench/RESULTS.md, "Query latency").
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

MAX_BATCH = 16  # bigger batches only add padding on CPU


class _Request:
    __slots__ = ("text", "vector", "error", "done")

    def __init__(self, text: str) -> None:
        self.text = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False


class QueryBatcher:
    """`embed(text)` from any thread; `embed_many(texts)` must return one row per text."""

    def __init__(self, embed_many: Callable[[list[str]], np.ndarray], max_batch: int = MAX_BATCH) -> None:
        self._embed_many = embed_many
        self._max_batch = max_batch
        self._changed = threading.Condition()
        self._waiting: list[_Request] = []
        self._running = False

    def embed(self, text: str) -> np.ndarray:
        request = _Request(text)
        with self._changed:
            self._waiting.append(request)
        while True:
            with self._changed:
                while self._running and not request.done:
                    self._changed.wait()
                if request.done:
                    break
                self._running = True  # this thread runs the next batch, which holds its own request
                batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            self._run(batch)
        if request.error is not None:
            raise request.error
        return request.vector

    def _run(self, batch: list[_Request]) -> None:
        try:
            vectors = self._embed_many([r.text for r in batch])
            for request, vector in zip(batch, vectors, strict=True):
                request.vector = vector
        except BaseException as exc:  # every waiter gets the error instead of hanging
            for request in batch:
                request.error = exc
        with self._changed:
            for request in batch:
                request.done = True
            self._running = False
            self._changed.notify_all()
