"""An answer as server-sent events, for the widget: `delta` pieces of text, then `answer` with the
final JSON, or `error` if anything fails once the stream has started (the HTTP status is already
sent by then, so the error has to travel as an event).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping

from fastapi.sse import ServerSentEvent

from qa_types import Answer
from server.api_models import answer_payload

log = logging.getLogger("govdoc_qa.server")

STREAM_FAILED = "the answer could not be produced; please try again"


def event(name: str, payload: dict) -> ServerSentEvent:
    # raw_data with ensure_ascii=False: Chinese travels as UTF-8, not as six-byte \u escapes.
    return ServerSentEvent(event=name, raw_data=json.dumps(payload, ensure_ascii=False))


def answer_events(
    qa, question: str, history: list[dict], dates: Mapping[str, str] | None = None
) -> Iterator[ServerSentEvent]:
    """Wraps `qa.ask_stream`: str pieces become `delta` events, the final Answer an `answer` event
    (documents' dates from `dates`, as in answer_payload)."""
    try:
        for piece in qa.ask_stream(question, history):
            if isinstance(piece, Answer):
                yield event("answer", answer_payload(piece, dates))
                return
            yield event("delta", {"text": piece})
        log.error("ask_stream ended without a final answer for %r", question[:80])
    except Exception:
        log.exception("streaming answer failed for %r", question[:80])
    yield event("error", {"error": STREAM_FAILED})
