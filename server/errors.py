"""Short JSON errors instead of FastAPI's nested validation detail or a 500 traceback.

Bad input gets a 4xx whose `error` says what to fix: 400 when the body is not JSON at all, 422 when
it is JSON of the wrong shape. Anything unexpected is logged in full on the server and answered
with a one-line 500, so no stack trace ever reaches a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("govdoc_qa.server")

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


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


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
