"""The one outbound HTTP client: created on first use, reused for the life of the process.

httpx is imported here, inside `get()`, so the Lambda runtime pays for it only on the first
request that talks to an identity provider, not at cold start. `reset()` lets go of it and its
connections, for an execution environment restored from a SnapStart snapshot
(`service/runtime/snapstart.py`).

What the client's libraries log is decided here too (`quiet_transport_loggers`): nothing of a
request reaches the function's log through them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("service.http")

# The loggers of the libraries under the client: what they write never reaches the log.
TRANSPORT_LOGGERS = ("httpx", "httpcore")


def quiet_transport_loggers() -> None:
    """Keep the transport libraries' request lines out of the log, whatever the root logger's level.

    Setting a logger's level imports nothing: httpx still loads on its first use.
    """
    # httpx writes every request at INFO (`HTTP Request: POST <url> "HTTP/1.1 200 OK"`), its
    # URL whole: the query of a token endpoint that takes its key there (Google's, in the
    # Firebase Auth REST API reference: `?key=[API_KEY]`), of the client secret's read
    # (`?secretId=<ARN>`). httpcore writes each
    # step at DEBUG, with every header of the answer. In Lambda the runtime sets the root logger
    # to the function's ApplicationLogLevel (INFO in the template; docs/aws-facts.md, row
    # "Lambda JSON log lines"), so all of it would reach the log on every token request, and
    # make dev's too where a root handler is set up. Capped at WARNING, at which neither writes
    # anything: a failed call is logged once, by the service, in its own words
    # (`identity/provider_http.py`).
    for name in TRANSPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class SharedHttpClient:
    def __init__(self, *, timeout_seconds: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._timeout_seconds = timeout_seconds
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        # A client's connections belong to the event loop that opened them; Lambda and
        # uvicorn keep one loop, but a test harness may start a new one per request.
        if self._client is None or self._loop is not loop:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout_seconds),
                transport=self._transport,
                follow_redirects=False,
                headers={"user-agent": "fastapi-lambda-service"},
            )
            self._loop = loop
        return self._client

    def reset(self) -> None:
        """Close the client, if it has one, and forget it: the next `get()` opens new connections.

        Closing needs the event loop that opened the connections; where that loop cannot run it
        (closed, or busy), the client is only forgotten, and so it is where closing fails: the
        connections are the pool's past, and a reset must not fail the restore it is part of.
        """
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is None or loop is None or loop.is_closed() or loop.is_running():
            return
        try:
            loop.run_until_complete(client.aclose())
        except Exception as exc:  # noqa: BLE001 - see above
            logger.warning("could not close the outbound HTTP client", extra={"error_type": type(exc).__name__})
