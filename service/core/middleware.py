"""The app's edge: one ASGI layer between Starlette's outer error handler and the routes.

It does four things every request needs, in one layer because each ASGI layer costs every
request a few microseconds (two wrapped callables, one more frame on every message):
- default response headers suited to an API;
- the request body limit, answered with a 413 problem;
- the last line of defence: an unexpected exception becomes a bare 500 problem and one log
  line. Starlette's own server-error handler re-raises after answering, which makes Mangum
  and uvicorn log a full traceback (with request data); the exception stops here instead;
- the request's log line and metrics (`service/core/request_log.py`), once it is answered.
"""

from __future__ import annotations

import logging
import sys
from time import perf_counter_ns

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.errors import AppError, problem_response
from service.core.request_log import RequestLog

logger = logging.getLogger("service.errors")

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
_DEFAULT_HEADER_NAMES = frozenset(name for name, _ in _RAW_DEFAULT_HEADERS)


# More digits than this and a declared length is over any limit (Lambda's is 6 MB).
_CONTENT_LENGTH_MAX_DIGITS = 18


class BodyTooLarge(AppError):
    status_code = 413
    code = "content_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes.")


def with_default_headers(message: Message) -> Message:
    """An `http.response.start` message with the default headers the route did not set itself."""
    # A list of its own: ASGI allows any iterable, read twice here.
    headers = list(message.get("headers", ()))
    # Lowercased: ASGI asks for lowercase names, but not every library that builds a response does.
    present = {name.lower() for name, _ in headers}
    if _DEFAULT_HEADER_NAMES.isdisjoint(present):
        # What nearly every response is: none of them set by the route.
        headers += _RAW_DEFAULT_HEADERS
    else:
        headers += [header for header in _RAW_DEFAULT_HEADERS if header[0] not in present]
    return {**message, "headers": headers}


class ApiEdge:
    """Default headers, the body limit (`max_bytes`), the unhandled-error shield and the request's line.

    Starlette's own body limiter answers in plain text, outside the app's error handlers;
    this one keeps the app's error shape.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, request_log: RequestLog | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.request_log = request_log

    def _too_large(self) -> Response:
        # Built only when needed: a JSON response per request would cost every request.
        error = BodyTooLarge(self.max_bytes)
        return problem_response(error.status_code, code=error.code, detail=error.detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        begun = perf_counter_ns()
        started = False
        exceeded = False
        received = 0
        # What the line reports if nothing was answered at all (the client went away).
        status = 500

        async def emit(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message = with_default_headers(message)
            await send(message)

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
            nonlocal started, status
            if not exceeded:
                # `emit`'s work, written out: every message of every answer passes here.
                if message["type"] == "http.response.start":
                    started = True
                    status = message["status"]
                    message = with_default_headers(message)
                await send(message)
            elif not started and message["type"] == "http.response.start":
                # Whatever the app made of the aborted read (FastAPI calls it a parse
                # error), the client is told the truth: the body was too large.
                await self._too_large()(scope, receive, emit)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_bytes:
                await self._too_large()(scope, receive, emit)
                return
            await self.app(scope, receive_within_limit, send_or_replace)
        except Exception as exc:  # noqa: BLE001 - the last line of defence, by design
            if exceeded and not started:
                # The aborted read came up as an exception: the answer is still the body's size.
                await self._too_large()(scope, receive, emit)
                return
            # The type in the message too: make dev's log shows the message, not the extras.
            error_type = type(exc).__name__
            logger.error(
                "unhandled error: %s", error_type, extra={"error_type": error_type, "path": scope.get("path", "")}
            )
            if not started:
                response = problem_response(500, code="internal_error", detail="An unexpected error occurred.")
                await response(scope, receive, emit)
        finally:
            if self.request_log is not None:
                self.request_log.write(scope, status, begun)


def _content_length(scope: Scope) -> int | None:
    """The declared `content-length`, when it is a plain number.

    A number of more digits than any body could have is read as "too large" without
    converting it: `int()` refuses more than 4,300 digits (CPython's guard against
    quadratic conversion), and the request would end in a 500.
    """
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                return None
            digits = value.lstrip(b"0")
            return int(digits or b"0") if len(digits) <= _CONTENT_LENGTH_MAX_DIGITS else sys.maxsize
    return None
