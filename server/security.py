"""Who may frame our pages, and what our pages may load: Content-Security-Policy per page.

- /widget may be framed by this site and by the configured origins (Config.allowed_origins), and
  may load nothing but its own script, style and API: it is a small static page of our own.
- Every other page (the Gradio chat, /docs) may be framed only by this site. Gradio needs inline
  scripts and styles, so its policy limits *where* things load from (this origin only: no CDN,
  outside fonts or analytics can slip in), not whether inline code runs.

`may_frame_widget` answers embed.js's question before it loads the widget (GET /widget/allowed):
a host page the policy would block gets a message of its own instead of the browser's broken frame.

A plain ASGI middleware, not @app.middleware("http"): that one wraps streaming responses and logs
"No response returned" errors when a streaming client goes away.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WIDGET_PATH = "/widget"


def frame_ancestors(allowed_origins: tuple[str, ...] | list[str]) -> str:
    return " ".join(["frame-ancestors", "'self'", *allowed_origins])


def may_frame_widget(origin: str, host: str, allowed_origins: tuple[str, ...] | list[str]) -> bool:
    """Whether a page of `origin` may frame /widget under `frame_ancestors`: a configured origin,
    or this site itself (`host`, the Host header). No Origin at all is a same-origin request."""
    if not origin:
        return True
    return origin.rstrip("/") in allowed_origins or urlsplit(origin).netloc.lower() == host.lower()


def widget_policy(allowed_origins: tuple[str, ...] | list[str]) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            frame_ancestors(allowed_origins),
        ]
    )


def app_policy() -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "media-src 'self' data: blob:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "base-uri 'self'",
            "form-action 'self'",
            frame_ancestors(()),
        ]
    )


def route_path(scope: Scope) -> str:
    """The request path without the sub-path a reverse proxy may have left on it."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path or "/"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...]) -> None:
        self.app = app
        self.widget_headers = self._headers(widget_policy(allowed_origins))
        self.app_headers = self._headers(app_policy())

    @staticmethod
    def _headers(policy: str) -> dict[str, str]:
        return {
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        extra = self.widget_headers if path in (WIDGET_PATH, WIDGET_PATH + "/") else self.app_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
