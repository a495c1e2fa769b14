"""A time budget for one answer (Config.answer_timeout), checked between the stages of answering.

The server gives up on an answer when its budget is spent (server/limits.py); the pipeline checks
the same deadline before each costly stage, so that work the server has given up on stops at the
next stage instead of running to the end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


class AnswerTimeout(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class Deadline:
    seconds: float  # the budget, for messages
    at: float  # time.monotonic() when it is spent

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def check(self) -> None:
        """Raises AnswerTimeout once the budget is spent."""
        if time.monotonic() >= self.at:
            raise AnswerTimeout(self.seconds)


def check(deadline: Deadline | None) -> None:
    if deadline is not None:
        deadline.check()
