"""ASGI middleware of the app: default response headers and the request body limit."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.errors import AppError, problem_response

DEFAULT_HEADERS = {
    # Browsers must not guess a JSON error into HTML.
    "x-content-type-options": "nosniff",
    # Nothing here is meant to be framed.
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class SecurityHeaders:
    """Adds the API's default headers; `cache-control: no-store` unless a route chose otherwise.

    Answers carry claims, tokens or errors specific to the caller: no shared cache may keep them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in DEFAULT_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("cache-control", "no-store")
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = BodyTooLarge(self.max_bytes)
        too_large = problem_response(error.status_code, code=error.code, detail=error.detail)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await too_large(scope, receive, send)
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
                    raise error
            return message

        async def send_or_replace(message: Message) -> None:
            # Whatever the app made of the aborted read (FastAPI calls it a parse error),
            # the client is told the truth: the body was too large.
            if not exceeded:
                await send(message)
            elif message["type"] == "http.response.start":
                await too_large(scope, receive, send)

        await self.app(scope, receive_within_limit, send_or_replace)
