"""The one outbound HTTP client: created on first use, reused for the life of the process.

httpx is imported here, inside `get()`, so the Lambda runtime pays for it only on the first
request that talks to an identity provider, not at cold start.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


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
