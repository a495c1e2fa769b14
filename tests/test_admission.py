"""Admission control (server/admission.py, issue 13 point 3), alone and fast: a fake clock drives the
moving average of answer times, and waiting is released by the test, never by a timer."""

from __future__ import annotations

import threading

import anyio
import pytest

from config import Config
from server.admission import Admission, Busy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def admission(max_active=2, max_queued=2, max_wait_s=10.0, clock=None) -> Admission:
    return Admission(max_active, max_queued, max_wait_s, clock=clock or FakeClock())


def test_answers_start_at_once_up_to_the_limit_then_queue_then_are_refused():
    gate = admission(max_active=2, max_queued=1)
    first, second = gate.enter(), gate.enter()
    assert first.granted and second.granted
    queued = gate.enter()
    assert not queued.granted
    assert gate.load().active == 2 and gate.load().queued == 1
    with pytest.raises(Busy) as refused:
        gate.enter()
    assert refused.value.retry_after >= 1
    assert str(refused.value) == "the server is busy (2 answers in progress, 1 waiting); please try again in 1 s"
    assert gate.load().queued == 1, "a refused request takes no place in the queue"


def test_a_released_slot_goes_to_the_oldest_waiter():
    gate = admission(max_active=1, max_queued=3)
    running = gate.enter()
    waiting = [gate.enter() for _ in range(3)]
    running.release()
    assert [t.granted for t in waiting] == [True, False, False]
    assert gate.load().active == 1 and gate.load().queued == 2
    waiting[0].release()
    assert [t.granted for t in waiting] == [True, True, False]
    waiting[1].release()
    waiting[2].release()
    assert gate.load().active == 0 and gate.load().queued == 0


def test_release_is_idempotent_and_a_queued_ticket_released_leaves_the_queue():
    gate = admission(max_active=1, max_queued=2)
    running, queued = gate.enter(), gate.enter()
    queued.release()
    queued.release()
    assert gate.load().queued == 0
    running.release()
    running.release()
    assert gate.load().active == 0
    with gate.enter() as ticket:
        assert ticket.granted and gate.load().active == 1
    assert gate.load().active == 0


def test_the_moving_average_follows_recent_answer_times():
    clock = FakeClock()
    gate = admission(max_active=1, max_queued=5, clock=clock)
    assert gate.load().average_s is None
    for seconds, average in [(2.0, 2.0), (1.0, 1.8), (1.0, 1.64)]:
        ticket = gate.enter()
        clock.advance(seconds)
        ticket.release()
        assert gate.load().average_s == pytest.approx(average)


def test_a_request_whose_expected_wait_passes_the_limit_is_refused_with_that_wait():
    clock = FakeClock()
    gate = admission(max_active=2, max_queued=10, max_wait_s=1.5, clock=clock)
    # Before any answer has finished there is nothing to estimate from: only the queue's size counts.
    running = [gate.enter(), gate.enter()]
    early = [gate.enter(), gate.enter()]
    assert not any(t.granted for t in early)
    for ticket in early:
        ticket.release()
    clock.advance(2.0)
    running[0].release()  # answers take 2 s: a slot frees every 1 s with 2 of them running
    running[0] = gate.enter()
    assert gate.expected_wait_s(ahead=0) == pytest.approx(1.0)
    first = gate.enter()  # 1 s expected: waits
    assert not first.granted
    with pytest.raises(Busy) as refused:
        gate.enter()  # 2 s expected: refused at once, told to come back when that wait is over
    assert refused.value.retry_after == 2
    assert gate.load().queued == 1


def test_retry_after_is_whole_seconds_and_bounded():
    clock = FakeClock()
    gate = admission(max_active=1, max_queued=1, max_wait_s=0.5, clock=clock)
    ticket = gate.enter()
    clock.advance(1000)
    ticket.release()
    gate.enter()
    with pytest.raises(Busy) as refused:
        gate.enter()
    assert refused.value.retry_after == 60


def test_a_thread_waiting_for_a_slot_gets_it_when_one_is_released():
    gate = admission(max_active=1, max_queued=1)
    running = gate.enter()
    queued = gate.enter()
    result = []
    waiter = threading.Thread(target=lambda: result.append(queued.wait(timeout=30)))
    waiter.start()
    running.release()
    waiter.join(timeout=30)
    assert result == [True] and gate.load().active == 1
    queued.release()
    assert gate.load().active == 0


def test_a_wait_that_times_out_leaves_the_queue():
    gate = admission(max_active=1, max_queued=1)
    running = gate.enter()
    queued = gate.enter()
    assert queued.wait(timeout=0) is False
    assert gate.load().queued == 0
    gate.enter().release()  # its place is free again
    queued.release()  # nothing to give back
    running.release()
    assert (gate.load().active, gate.load().queued) == (0, 0)


def test_a_slot_granted_as_the_wait_ends_is_kept_not_lost():
    gate = admission(max_active=1, max_queued=1)
    running = gate.enter()
    queued = gate.enter()
    running.release()  # granted before the waiter looks
    assert queued.wait(timeout=0) is True
    queued.release()
    assert gate.load().active == 0


def test_waiting_on_the_event_loop():
    gate = admission(max_active=1, max_queued=2)

    async def main() -> None:
        running = gate.enter()
        queued = gate.enter()
        outcome = []

        async def wait() -> None:
            outcome.append(await queued.wait_async(timeout=30))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            assert outcome == []
            # Released from a worker thread, as when a streamed answer ends in one.
            await anyio.to_thread.run_sync(running.release)
        assert outcome == [True]
        queued.release()

        late = gate.enter()
        queued_again = gate.enter()
        assert await queued_again.wait_async(timeout=0) is False
        assert gate.load().queued == 0
        late.release()

    anyio.run(main)
    assert gate.load().active == 0 and gate.load().queued == 0


def test_a_cancelled_async_waiter_leaves_the_queue():
    gate = admission(max_active=1, max_queued=1)

    async def main() -> None:
        running = gate.enter()
        queued = gate.enter()
        with anyio.move_on_after(30) as scope:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(queued.wait_async, 30)
                await anyio.wait_all_tasks_blocked()
                tasks.cancel_scope.cancel()  # the client went away
        assert not scope.cancelled_caught
        assert gate.load().queued == 0
        running.release()

    anyio.run(main)
    assert gate.load().active == 0


def test_admission_is_sized_from_the_config():
    gate = Admission.from_config(Config())
    assert (gate.max_active, gate.max_queued, gate.max_wait_s) == (4, 16, 1.0)
    gate = Admission.from_config(
        Config.from_env(
            environ={
                "QA_MAX_CONCURRENT_ANSWERS": "3",
                "QA_MAX_QUEUED_ANSWERS": "5",
                "QA_MAX_ANSWER_WAIT": "0.25",
            }
        )
    )
    assert (gate.max_active, gate.max_queued, gate.max_wait_s, gate.capacity) == (3, 5, 0.25, 8)


@pytest.mark.parametrize(
    "variable, value",
    [("QA_MAX_CONCURRENT_ANSWERS", "0"), ("QA_MAX_QUEUED_ANSWERS", "x"), ("QA_MAX_ANSWER_WAIT", "-1")],
)
def test_bad_admission_settings_name_the_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        Config.from_env(environ={variable: value})
