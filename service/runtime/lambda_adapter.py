"""Turns HTTP API payload 2.0 events into ASGI requests for the app (through Mangum).

The function is wired to an HTTP API only, but an event can still be malformed (a test
invocation, a misrouted trigger, a hand-made event) or hold values Mangum cannot turn into an
ASGI request (a non-numeric port, text that is not UTF-8): each is answered with a clear
problem and one log line, never a traceback, and nothing raises into the Lambda runtime.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES
from mangum.handlers import HTTPGateway
from mangum.types import LambdaConfig, LambdaContext, LambdaEvent, Scope
from mangum.types import LambdaHandler as MangumEventHandler

from service.app import create_app
from service.core.errors import PROBLEM_JSON
from service.core.settings import LAMBDA_PAYLOAD_LIMIT_BYTES, Settings
from service.runtime.gateway_paths import GatewayPaths

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger("service.lambda")
# Mangum logs each request at INFO ("GET /mvp/v1/items/42 200": the raw path, an id in it);
# the app's own line (service/core/request_log.py) says that and more, so Mangum's is left out.
logging.getLogger("mangum.http").setLevel(logging.WARNING)

LambdaHandler = Callable[[Any, Any], dict[str, Any]]

# Lambda's runtime sends the handler's answer as JSON text, and its limit counts that text's
# bytes (docs/aws-facts.md, row "Payload limit"). How the runtime interface client writes
# non-ASCII characters depends on the runtime: on python3.12 and later unescaped, as UTF-8
# (aws/aws-lambda-python-runtime-interface-client issue 122; PR 88 made its encoder write
# characters, not escapes); on python3.11 as escapes (`\u00e9`; `\ud83d\ude00` outside the Basic
# Multilingual Plane), which is also the larger count where a runtime's client is newer. The
# function's interpreter is its runtime's.
# docs/aws-facts.md, row "Response payload encoding"
RUNTIME_ESCAPES_NON_ASCII = sys.version_info < (3, 12)
# One character of the body costs at most this many bytes: a surrogate pair's two escapes, or
# a control character's escape (`\u001f`) where the rest is written as UTF-8 (4 bytes at most).
_MAX_JSON_BYTES_PER_CHARACTER = {True: 12, False: 6}
# 64 kB left for the status, headers and framing.
_HEADROOM_BYTES = 64 * 1024
# The longest body within the limit whatever it holds, for each way of writing it.
_SURELY_WITHIN = {
    escapes: (LAMBDA_PAYLOAD_LIMIT_BYTES - _HEADROOM_BYTES) // per_character
    for escapes, per_character in _MAX_JSON_BYTES_PER_CHARACTER.items()
}


def over_payload_limit(response: dict[str, Any], *, escapes_non_ascii: bool = RUNTIME_ESCAPES_NON_ASCII) -> bool:
    """Whether Lambda would refuse `response` as larger than its 6 MB payload limit.

    Counted as the runtime serializes it (`escapes_non_ascii`: this runtime's way, above):
    multi-byte characters, escaped quotes, the base64 text of a binary body and the headers
    all count. A body short enough to be within the limit whatever it holds is not measured,
    which spares nearly every response a second serialization.
    """
    if len(response.get("body") or "") <= _SURELY_WITHIN[escapes_non_ascii]:
        return False
    text = json.dumps(response, ensure_ascii=escapes_non_ascii)
    size = len(text) if escapes_non_ascii else len(text.encode("utf-8", "surrogatepass"))
    return size > LAMBDA_PAYLOAD_LIMIT_BYTES


def problem(status: int, title: str, detail: str, code: str) -> dict[str, Any]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code}
    return {
        "statusCode": status,
        "headers": {"content-type": "application/problem+json", "x-content-type-options": "nosniff"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


_ONLY_STR = frozenset({str})


def malformed_event_reason(event: Any) -> str | None:
    """Why `event` is not a usable HTTP API payload 2.0 event, or None when it is.

    Every invocation passes here, so each test is one step on the decoded JSON, whose types
    are exactly `dict`, `list`, `str`, ... and its object keys always strings
    (docs/aws-facts.md, row "Invocation event types"), and a map's or a list's value types
    are collected in C (`map`) rather than by a generator.
    """
    if type(event) is not dict or event.get("version") != "2.0":
        return "not an HTTP API payload 2.0 event"
    request_context = event.get("requestContext")
    http = request_context.get("http") if type(request_context) is dict else None
    if type(http) is not dict:
        return "requestContext.http is missing"
    path = http.get("path")
    if type(http.get("method")) is not str or type(path) is not str or type(http.get("sourceIp")) is not str:
        missing = next(key for key in ("method", "path", "sourceIp") if type(http.get(key)) is not str)
        return f"requestContext.http.{missing} is missing"
    if not path.startswith("/") or type(event.get("rawPath")) is not str:
        return "rawPath is missing"
    headers = event.get("headers", {})
    if type(headers) is not dict or not _ONLY_STR.issuperset(map(type, headers.values())):
        return "headers is malformed"
    if type(event.get("rawQueryString", "")) is not str:
        return "rawQueryString is malformed"
    cookies = event.get("cookies")
    if cookies is not None and not (type(cookies) is list and _ONLY_STR.issuperset(map(type, cookies))):
        return "cookies is malformed"
    body = event.get("body")
    if body is not None and type(body) is not str:
        return "body is malformed"
    if body and event.get("isBase64Encoded"):
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return "body is marked base64 but is not"
    return None


# What Mangum parses out of `host` (`name` or `name:port`) and `x-forwarded-port`: a TCP port
# has five digits at most, and thousands of them pass Python's int-string limit inside Mangum.
_HOST = re.compile(r"[^:]*(:[0-9]{1,5})?")
_PORT = re.compile(r"[0-9]{1,5}")


def _texts(event: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every text of the event that Mangum encodes as UTF-8, with where it sits (never a name the client chose)."""
    for name, value in (event.get("headers") or {}).items():
        yield "a header", name
        yield "a header", value
    yield "rawQueryString", event.get("rawQueryString") or ""
    for cookie in event.get("cookies") or []:
        yield "cookies", cookie
    if not event.get("isBase64Encoded"):
        yield "body", event.get("body") or ""


def untranslatable_event_reason(event: dict[str, Any]) -> str | None:
    """Why Mangum cannot turn a well-formed payload 2.0 event into an ASGI request, or None."""
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    host = headers.get("host")
    if host is not None and not _HOST.fullmatch(host):
        return "header 'host' is not a host with an optional port number"
    port = headers.get("x-forwarded-port")
    if port is not None and ":" not in (host or "") and not _PORT.fullmatch(port):
        return "header 'x-forwarded-port' is not a port number"
    for where, text in _texts(event):
        try:
            text.encode()
        except UnicodeEncodeError:
            return f"{where} is not valid Unicode text"
    return None


def http_api_events(paths: GatewayPaths) -> type[MangumEventHandler]:
    """Mangum's handler of payload 2.0 events, with the request routed on the app's own path.

    Given to Mangum as a custom handler (its documented extension point, `custom_handlers`),
    which it tries before its own. Its scope is built once: Mangum's own handler builds it
    again, every header encoded anew, to read the event's version when it renders the answer.
    """

    class HttpApiEvent(HTTPGateway):
        def __init__(self, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> None:
            super().__init__(event, context, config)
            scope = super().scope
            paths.route_on_app_path(scope)
            self._scope = scope

        @classmethod
        def infer(cls, event: LambdaEvent, context: LambdaContext, config: LambdaConfig) -> bool:
            return event.get("version") == "2.0"

        @property
        def scope(self) -> Scope:  # the same value as Mangum's, computed once
            return self._scope

    return HttpApiEvent


class _MangumOnItsOwnLoop:
    """Mangum, run on the handler's own event loop, answering whatever fails outside the app.

    Mangum runs each invocation on `asyncio.get_event_loop()`. What else runs in the
    process decides what that returns: after `asyncio.run(...)` (user code at init, a
    library) there is no current loop and every later invocation would raise; a closed loop
    fails the same way. So each invocation runs on the handler's own loop: as it finds it
    where it is current and idle (nearly always), else made current again, replaced once if
    something closed it. Called from a coroutine (a running loop on this thread, which no
    other loop may run inside), it runs on a thread of its own.
    """

    def __init__(self, app: Any, *, paths: GatewayPaths) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._mangum = Mangum(
            app,
            lifespan="off",
            custom_handlers=[http_api_events(paths)],
            # Mangum matches by substring: "application/json" does not cover problem+json, which
            # would otherwise travel base64-encoded.
            text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, PROBLEM_JSON],
        )
        self._thread: ThreadPoolExecutor | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            # What nearly every invocation finds: Mangum's `get_event_loop()` returns this loop.
            # `get_event_loop()` returns the running loop where there is one (never this one
            # outside `_invoke`), else the thread's current loop, and raises where none is set.
            try:
                loop = asyncio.get_event_loop()
            except RuntimeError:
                loop = None
            if loop is self._loop and not loop.is_closed() and not loop.is_running():
                response: dict[str, Any] = self._mangum(event, context)
                return response
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return self._invoke(event, context)
            if self._thread is None:
                # Imported here: only a call from a running loop needs it, and its modules
                # (threads, queues) cost every cold start some 2 million instructions otherwise.
                from concurrent.futures import ThreadPoolExecutor

                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-invocation")
            return self._thread.submit(self._invoke, event, context).result()
        except Exception as error:  # noqa: BLE001 - the runtime would fail the invocation: the gateway's bare 500
            reason = untranslatable_event_reason(event)
            if reason is not None:
                logger.error("rejected an event Mangum cannot translate: %s", reason)
                return problem(400, "Bad Request", f"Unusable event: {reason}.", "unsupported_event")
            # The type alone: a message may quote the request.
            logger.error("the invocation failed outside the app: %s", type(error).__name__)
            return problem(500, "Internal Server Error", "The request could not be processed.", "internal_error")

    def _invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        response: dict[str, Any] = self._mangum(event, context)
        return response


def build_handler(settings: Settings, *, app: FastAPI | None = None) -> LambdaHandler:
    """A Lambda handler serving `app` (by default the app built from `settings`)."""
    app = app or create_app(settings)
    paths = GatewayPaths(stage_name=settings.aws_api_gw_stage_name, mapping_key=settings.aws_api_gw_mapping_key)
    adapter = _MangumOnItsOwnLoop(app, paths=paths)

    def handler(event: Any, context: Any) -> dict[str, Any]:
        reason = malformed_event_reason(event)
        if reason is not None:
            logger.error("rejected a malformed event: %s", reason)
            return problem(400, "Bad Request", f"Unusable event: {reason}.", "unsupported_event")
        response = adapter(event, context)
        if over_payload_limit(response):
            # Lambda would fail the invocation and the gateway answer a bare 500.
            logger.error("response over Lambda's payload limit replaced", extra={"path": event["rawPath"]})
            return problem(500, "Internal Server Error", "The response is too large.", "response_too_large")
        return response

    return handler
