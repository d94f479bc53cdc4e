"""ASGI middleware of the app: default response headers and the request body limit."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.errors import AppError, problem_response

DEFAULT_HEADERS = {
    # Browsers must not guess a JSON error into HTML.
    "x-content-type-options": "nosniff",
    # Nothing here is meant to be framed.
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    # Answers carry claims, tokens or errors specific to the caller: no shared cache may keep them.
    "cache-control": "no-store",
}
# As ASGI carries them, encoded once rather than on every response.
_RAW_DEFAULT_HEADERS = tuple(
    (name.encode("latin-1"), value.encode("latin-1")) for name, value in DEFAULT_HEADERS.items()
)


class SecurityHeaders:
    """Adds the API's default headers to every response, unless the route set its own value."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in _RAW_DEFAULT_HEADERS if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(AppError):
    status_code = 413
    code = "content_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes.")


class RequestBodyLimit:
    """Refuses bodies over `max_bytes` with 413 problem details, before or while they are read.

    Starlette's own limiter answers in plain text, outside the app's error handlers; this one
    keeps the app's error shape.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> Response:
        # Built only when needed: a JSON response per request would cost every request.
        error = BodyTooLarge(self.max_bytes)
        return problem_response(error.status_code, code=error.code, detail=error.detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large()(scope, receive, send)
            return
        received = 0
        exceeded = False

        async def receive_within_limit() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def send_or_replace(message: Message) -> None:
            # Whatever the app made of the aborted read (FastAPI calls it a parse error),
            # the client is told the truth: the body was too large.
            if not exceeded:
                await send(message)
            elif message["type"] == "http.response.start":
                await self._too_large()(scope, receive, send)

        await self.app(scope, receive_within_limit, send_or_replace)


def _content_length(scope: Scope) -> int | None:
    """The declared `content-length`, when it is a plain number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
