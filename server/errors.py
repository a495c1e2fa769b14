"""Short JSON errors instead of FastAPI's nested validation detail or a 500 traceback.

Bad input gets a 4xx whose `error` says what to fix: 400 when the body is not JSON at all, 422 when
it is JSON of the wrong shape, 404/405 for a route or method under /api that does not exist (405
with `Allow`), 413/415 from server/limits.py. An answer past its time budget is a 503 with
`Retry-After`, and so is a request refused because too many answers are in progress and waiting
(server/admission.py) or because the server is still loading the index and the model
(server/startup.py); an index or model that could not be loaded is a 500 saying why. Anything
unexpected is logged in full on the server and answered with a one-line 500, so no stack trace
ever reaches a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from answering.deadline import AnswerTimeout
from server.admission import Busy
from server.feedback import FeedbackUnavailable
from server.startup import STARTING_RETRY_AFTER_S, Starting, StartupFailed

log = logging.getLogger("govdoc_qa.server")

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")
API_PREFIX = "/api/"
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
RETRY_AFTER_SECONDS = 10


def describe_validation_error(error: dict) -> str:
    """`{"loc": ("body", "history", 0, "role"), "msg": ...}` -> 'history[0].role: Input should be ...'."""
    path = ""
    for part in error.get("loc", ()):
        if part == "body":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = str(error.get("msg", "invalid value"))
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return f"{path}: {message}" if path else message


def validation_error_body(errors: list[dict]) -> tuple[int, dict]:
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, {"error": "the request body is not valid JSON", "errors": []}
    if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
        return 400, {"error": 'the request body is missing; send JSON such as {"question": "…"}', "errors": []}
    if any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        return 422, {"error": 'the request body must be a JSON object such as {"question": "…"}', "errors": []}
    messages = [describe_validation_error(e) for e in errors]
    return 422, {"error": messages[0] if messages else "invalid request", "errors": messages}


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    status, body = validation_error_body(list(exc.errors()))
    return JSONResponse(body, status_code=status)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own HTTP errors in the same one-line shape; a body it could not even decode
    (invalid UTF-8) is reported like any other body that is not JSON."""
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        message = "the request body is not valid JSON"
    else:
        message = str(exc.detail)
    return JSONResponse({"error": message, "errors": []}, status_code=exc.status_code, headers=exc.headers)


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal error; the server log has the details", "errors": []}, status_code=500)


async def _on_answer_timeout(request: Request, exc: AnswerTimeout) -> JSONResponse:
    log.warning("answer abandoned after %g s on %s", exc.seconds, request.url.path)
    return JSONResponse(
        {"error": timeout_message(exc.seconds), "errors": []},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _on_busy(request: Request, exc: Busy) -> JSONResponse:
    log.warning("refused %s: %d answers in progress, %d waiting", request.url.path, exc.active, exc.queued)
    return JSONResponse(
        {"error": str(exc), "errors": []}, status_code=503, headers={"Retry-After": str(exc.retry_after)}
    )


async def _on_starting(request: Request, exc: Starting) -> JSONResponse:
    return JSONResponse(
        {"error": str(exc), "errors": []}, status_code=503, headers={"Retry-After": str(STARTING_RETRY_AFTER_S)}
    )


async def _on_startup_failed(request: Request, exc: StartupFailed) -> JSONResponse:
    return JSONResponse({"error": f"the server cannot answer: {exc}", "errors": []}, status_code=500)


async def _on_feedback_unavailable(request: Request, exc: FeedbackUnavailable) -> JSONResponse:
    log.error("feedback not stored: %s", exc)  # the message never holds the database password
    return JSONResponse(
        {"error": "the feedback could not be stored just now; please try again", "errors": []},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def timeout_message(seconds: float) -> str:
    return f"no answer within {seconds:g} s; the server is busy or the question too costly, please try again"


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(AnswerTimeout, _on_answer_timeout)
    app.add_exception_handler(Busy, _on_busy)
    app.add_exception_handler(Starting, _on_starting)
    app.add_exception_handler(StartupFailed, _on_startup_failed)
    app.add_exception_handler(FeedbackUnavailable, _on_feedback_unavailable)
    app.add_exception_handler(Exception, _on_unexpected_error)


def add_api_fallback(app: FastAPI) -> None:
    """Every path under /api that no route of `app` takes: 405 with `Allow` when the path exists
    for other methods, else 404, both in the error shape above. Added after the API routes and
    before Gradio's mount at "/", which would otherwise answer `{"detail": "Not Found"}`."""

    def allowed_methods(request: Request) -> list[str]:
        methods: set[str] = set()
        for route in app.router.routes:
            if isinstance(route, APIRoute) and route.endpoint is not api_fallback:
                match, _ = route.matches(request.scope)
                if match is not Match.NONE:  # the path fits; PARTIAL: the method does not
                    methods |= route.methods or set()
        return sorted(methods)

    def api_fallback(request: Request, rest: str) -> None:
        allowed = allowed_methods(request)
        if allowed:
            raise HTTPException(
                405,
                f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        raise HTTPException(404, f"no API route {request.url.path}; /docs lists them")

    app.add_api_route(API_PREFIX + "{rest:path}", api_fallback, methods=ANY_METHOD, include_in_schema=False)


def quiet_validation_errors(app: FastAPI) -> None:
    """Gradio's own routes answer a malformed body with FastAPI's 422, which echoes the input back
    (`"input": …`); this gives them the short error above instead."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
