"""The one outbound HTTP client: created on first use, reused for the life of the process.

httpx is imported here, inside `get()`, so the Lambda runtime pays for it only on the first
request that talks to an identity provider, not at cold start. `reset()` lets go of it and its
connections, for an execution environment restored from a SnapStart snapshot
(`service/runtime/snapstart.py`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("service.http")


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
