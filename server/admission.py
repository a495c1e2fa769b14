"""Admission control in front of answering (issue 13 point 3): overload is a fast, honest refusal,
not a long wait.

Per process, at most `max_active` answers are worked on at once (QA_MAX_CONCURRENT_ANSWERS) and at
most `max_queued` more wait for a free slot, first come first served (QA_MAX_QUEUED_ANSWERS). A
request is refused at once, with the number of seconds after which trying again makes sense
(`Busy.retry_after`, sent as `Retry-After` with a 503), when the queue is full or when its expected
wait passes `max_wait_s` (QA_MAX_ANSWER_WAIT). The expected wait of a newcomer is

    (answers queued ahead of it + 1) × recent answer time / max_active

where the recent answer time is a moving average (EWMA) of how long the last answers held their
slot; until one answer has finished, only the queue's size bounds the wait.

`/api/ask`, `/api/ask/stream` (before the stream starts) and the chat page's answer step share one
`Admission`. A `Ticket` is a request let in: holding a slot (`granted`) or queued for one; it is
released exactly once, which hands the slot to the oldest queued ticket. Waiting for the slot works
from a worker thread (`wait`) or the event loop (`wait_async`); a wait that times out or is
cancelled leaves the queue (or passes on a slot granted meanwhile).

The clock is a parameter, so tests drive the moving average and the refusals without sleeping.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio

SMOOTHING = 0.2  # weight of the newest answer time in the moving average (about the last 10 answers)
MAX_RETRY_AFTER_S = 60


class Busy(Exception):
    """The request is refused: too many answers in progress and waiting. `retry_after`: whole seconds."""

    def __init__(self, retry_after: int, active: int, queued: int) -> None:
        super().__init__(
            f"the server is busy ({active} answers in progress, {queued} waiting); please try again in {retry_after} s"
        )
        self.retry_after = retry_after
        self.active = active
        self.queued = queued


@dataclass(frozen=True)
class Load:
    active: int  # answers holding a slot
    queued: int  # answers waiting for one
    average_s: float | None  # moving average of recent answer times; None before the first


class Ticket:
    """One request let in. `granted` once it holds a slot; `release()` (or leaving a `with` block)
    gives the slot back, or leaves the queue if it never got one."""

    def __init__(self, admission: Admission, granted: bool) -> None:
        self._admission = admission
        self._granted = threading.Event()
        self._notify: Callable[[], None] | None = None  # wakes an asyncio waiter
        self._released = False
        self.started_at: float | None = None
        if granted:
            self._grant(admission.clock())

    @property
    def granted(self) -> bool:
        return self._granted.is_set()

    def _grant(self, now: float) -> None:  # under the admission's lock
        self.started_at = now
        self._granted.set()
        if self._notify is not None:
            self._notify()

    def wait(self, timeout: float) -> bool:
        """Blocks until the slot is granted (True) or `timeout` passes (False: the ticket has left
        the queue and needs no release)."""
        if self._granted.wait(timeout):
            return True
        return self._admission._abandon(self)

    async def wait_async(self, timeout: float) -> bool:
        """`wait` for the event loop: True once granted; False after `timeout` (the ticket has left
        the queue). If the waiting task is cancelled, the ticket leaves the queue as well."""
        if self.granted:
            return True
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        with self._admission._lock:
            if self.granted:
                return True
            self._notify = lambda: loop.call_soon_threadsafe(event.set)
        try:
            with anyio.move_on_after(timeout):
                await event.wait()
        except BaseException:
            self._admission._abandon(self)
            self.release()  # a slot granted at the last moment goes to the next in line
            raise
        return self.granted or self._admission._abandon(self)

    def release(self) -> None:
        self._admission._release(self)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


class Admission:
    def __init__(
        self,
        max_active: int,
        max_queued: int,
        max_wait_s: float,
        clock: Callable[[], float] = time.monotonic,
        smoothing: float = SMOOTHING,
    ) -> None:
        if max_active < 1 or max_queued < 0 or max_wait_s <= 0:
            raise ValueError("admission needs max_active >= 1, max_queued >= 0 and max_wait_s > 0")
        self.max_active = max_active
        self.max_queued = max_queued
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.smoothing = smoothing
        self._lock = threading.Lock()
        self._active = 0
        self._queue: deque[Ticket] = deque()
        self._average_s: float | None = None

    @classmethod
    def from_config(cls, config) -> Admission:
        return cls(config.max_concurrent_answers, config.max_queued_answers, config.max_answer_wait)

    @property
    def capacity(self) -> int:
        """Answers in progress and waiting at most: the chat page's answer lanes (app.build_chat_ui)."""
        return self.max_active + self.max_queued

    def load(self) -> Load:
        with self._lock:
            return Load(self._active, len(self._queue), self._average_s)

    def expected_wait_s(self, ahead: int) -> float:
        """Seconds until a slot frees for a request with `ahead` requests queued before it, while
        every slot is taken (0.0 while no answer has finished yet: nothing to go by)."""
        if self._average_s is None:
            return 0.0
        return (ahead + 1) * self._average_s / self.max_active

    def enter(self) -> Ticket:
        """A ticket holding a slot, or queued for one; `Busy` when the request would wait too long."""
        with self._lock:
            if self._active < self.max_active:
                self._active += 1
                return Ticket(self, granted=True)
            ahead = len(self._queue)
            wait = self.expected_wait_s(ahead)
            if ahead >= self.max_queued or wait > self.max_wait_s:
                retry_after = min(MAX_RETRY_AFTER_S, max(1, math.ceil(wait)))
                raise Busy(retry_after, self._active, ahead)
            ticket = Ticket(self, granted=False)
            self._queue.append(ticket)
            return ticket

    def _abandon(self, ticket: Ticket) -> bool:
        """A waiter gives up: out of the queue (False), or True when it was granted meanwhile."""
        with self._lock:
            if ticket.granted:
                return True
            try:
                self._queue.remove(ticket)
            except ValueError:
                pass
            ticket._released = True  # nothing left to give back
            return False

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket._released:
                return
            ticket._released = True
            if not ticket.granted:  # released while still queued
                try:
                    self._queue.remove(ticket)
                except ValueError:
                    pass
                return
            now = self.clock()
            took = max(0.0, now - (ticket.started_at if ticket.started_at is not None else now))
            if self._average_s is None:
                self._average_s = took
            else:
                self._average_s += self.smoothing * (took - self._average_s)
            if self._queue:  # the slot passes straight on: the count of active answers stays
                self._queue.popleft()._grant(now)
            else:
                self._active -= 1
