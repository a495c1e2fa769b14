"""Bounded work and storage per request, before any handler runs.

- `RequestLimitsMiddleware` refuses a body larger than Config.max_body_bytes with 413: at once when
  its Content-Length says so, else (a chunked body) as soon as the bytes received pass the limit.
  A body within the limit is read here and handed on whole, so no handler or parser ever sees more.
  It also refuses file uploads (403): the chat takes no files, but Gradio mounts upload routes
  (`/gradio_api/upload`, `/gradio_api/process_recording`) that would store anything under
  /tmp/gradio, and Gradio has no setting to turn them off (only `max_file_size`). Any multipart body
  elsewhere is refused with 415, since nothing here reads one.
- `require_json`: a JSON route called with another Content-Type gets 415, not a confusing 422.
- `run_within`: an answer computed in a worker thread, given up on (AnswerTimeout) when its time
  budget is spent. The thread cannot be stopped from outside; it stops at the pipeline's next
  deadline check (answering/deadline.py), so abandoned work is one stage at most.

A plain ASGI middleware, like server/security.py, so streaming responses pass through untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import anyio
from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from answering.deadline import AnswerTimeout, Deadline
from server.security import route_path

T = TypeVar("T")
_UNSET = object()

# Gradio routes that receive files (gradio/routes.py); with a trailing slash too.
UPLOAD_PATHS = ("/gradio_api/upload", "/gradio_api/process_recording", "/gradio_api/upload_progress")
NO_UPLOADS = "this server accepts no file uploads"


async def send_error(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    """A response in the project's error shape (server/errors.py), sent from a middleware."""
    body = json.dumps({"error": message, "errors": []}, ensure_ascii=False).encode("utf-8")
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        path = route_path(scope).rstrip("/")
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if path in UPLOAD_PATHS:
            await send_error(send, 403, NO_UPLOADS)
            return
        if content_type.startswith("multipart/"):  # Gradio's component_server would read files from one
            await send_error(send, 415, f"{NO_UPLOADS}; send JSON")
            return
        too_large = f"the request body is larger than {self.max_body_bytes} bytes"
        # The client may still be sending: the connection is closed after the refusal, not reused.
        closing = {"Connection": "close"}
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_error(send, 400, "the Content-Length header is not a number", closing)
                return
            if int(declared) > self.max_body_bytes:
                await send_error(send, 413, too_large, closing)
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await send_error(send, 413, too_large, closing)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the app: the body read above, then whatever the client sends next (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def require_json(request: Request) -> None:
    """A dependency of the JSON routes: a body declared as anything but JSON is refused with 415.
    No Content-Type at all is read as JSON, as FastAPI does."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media = declared.split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    raise HTTPException(
        415, f"the request body must be JSON sent as Content-Type: application/json, not {media or 'an empty type'}"
    )


async def run_within(deadline: Deadline, function: Callable[..., T], /, *args, **kwargs) -> T:
    """`function(*args, **kwargs)` in a worker thread; AnswerTimeout when `deadline` passes first."""

    def call() -> T:
        return function(*args, **kwargs)

    result: T | object = _UNSET
    with anyio.move_on_after(deadline.remaining()):
        # abandon_on_cancel: the request ends at the deadline; the thread finishes its stage alone.
        result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    if result is _UNSET:
        raise AnswerTimeout(deadline.seconds)
    return result
