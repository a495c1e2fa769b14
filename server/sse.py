"""An answer as server-sent events, for the widget: `delta` pieces of text, then `answer` with the
final JSON, or `error` if anything fails once the stream has started (the HTTP status is already
sent by then, so the error has to travel as an event) — including an answer that runs past its
time budget, so a stream never stays silent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping

import anyio
from fastapi.sse import ServerSentEvent

from answering.deadline import AnswerTimeout, Deadline
from qa_types import Answer
from server.api_models import answer_payload
from server.errors import timeout_message

log = logging.getLogger("govdoc_qa.server")

STREAM_FAILED = "the answer could not be produced; please try again"
_END = object()


def event(name: str, payload: dict) -> ServerSentEvent:
    # raw_data with ensure_ascii=False: Chinese travels as UTF-8, not as six-byte \u escapes.
    return ServerSentEvent(event=name, raw_data=json.dumps(payload, ensure_ascii=False))


def answer_events(
    qa, question: str, history: list[dict], dates: Mapping[str, str] | None = None, deadline: Deadline | None = None
) -> Iterator[ServerSentEvent]:
    """Wraps `qa.ask_stream`: str pieces become `delta` events, the final Answer an `answer` event
    (documents' dates from `dates`, as in answer_payload)."""
    try:
        for piece in qa.ask_stream(question, history, deadline=deadline):
            if isinstance(piece, Answer):
                yield event("answer", answer_payload(piece, dates))
                return
            yield event("delta", {"text": piece})
        log.error("ask_stream ended without a final answer for %r", question[:80])
    except AnswerTimeout as exc:
        log.warning("streaming answer abandoned after %g s for %r", exc.seconds, question[:80])
        yield event("error", {"error": timeout_message(exc.seconds)})
        return
    except Exception:
        log.exception("streaming answer failed for %r", question[:80])
    yield event("error", {"error": STREAM_FAILED})


async def answer_events_within(
    qa, question: str, history: list[dict], dates: Mapping[str, str] | None, deadline: Deadline
) -> AsyncIterator[ServerSentEvent]:
    """`answer_events`, each event awaited in a worker thread for no longer than the budget left:
    when it is spent, an `error` event ends the stream at once (the thread stops at the pipeline's
    next deadline check, server/limits.run_within)."""
    events = answer_events(qa, question, history, dates, deadline)
    while True:
        item: object = None
        with anyio.move_on_after(deadline.remaining()):
            item = await anyio.to_thread.run_sync(next, events, _END, abandon_on_cancel=True)
        if item is None:
            log.warning("streaming answer abandoned after %g s for %r", deadline.seconds, question[:80])
            yield event("error", {"error": timeout_message(deadline.seconds)})
            return
        if item is _END:
            return
        yield item
