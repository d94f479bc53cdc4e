"""One discipline for every call an identity provider module makes over the network.

- One deadline for the whole operation (discovery, retry and all): `PROVIDER_TIMEOUT_SECONDS`,
  at most 25 s, so the answer reaches the client before the gateway's 30 s run out.
- One retry, and only where it is safe: the connection failed before a byte was sent.
  A password grant is never sent twice (a provider may count every attempt).
- Failures become the errors clients see, at once: not listening 503, too slow 504, a 5xx
  or an answer that is not a JSON object 502, the provider's 429 a 429.
- Nothing of the provider's body reaches a client or a log: callers map codes to our own
  messages, and log lines carry only the provider's name, the status and an error type.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from service.core.http import SharedHttpClient
from service.core.identity.base import ProviderFailed, ProviderThrottled, ProviderTimeout, ProviderUnavailable

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("service.identity")

# A connection refused is often a provider restarting; one quick second attempt is enough.
CONNECT_RETRY_DELAY_SECONDS = 0.2
# Longer hints are clamped: a client should not be told to wait an hour.
MAX_RETRY_AFTER_SECONDS = 300


@dataclass(frozen=True)
class ProviderAnswer:
    """A provider's answer below 500 whose body is a JSON object."""

    status_code: int
    body: dict[str, Any]
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


class ProviderHttp:
    """A provider's view of the shared HTTP client, with its deadline and error mapping."""

    def __init__(self, http: SharedHttpClient, *, provider: str, deadline_seconds: float) -> None:
        self._http = http
        self.provider = provider
        self.deadline_seconds = deadline_seconds

    @asynccontextmanager
    async def deadline(self) -> AsyncIterator[None]:
        """Run a whole provider operation within the deadline, or answer 504."""
        started = time.monotonic()
        try:
            with anyio.fail_after(self.deadline_seconds):
                yield
        except TimeoutError:
            self.log_failure("deadline exceeded", started=started)
            raise ProviderTimeout() from None

    async def request(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ProviderAnswer:
        """Send one request; a JSON-object answer below 500, or the error a client should see."""
        import httpx

        started = time.monotonic()
        content = None
        if json_body is not None:
            content = json.dumps(json_body).encode()
            # Cognito wants its own JSON media type; everyone else plain JSON.
            headers = {"content-type": "application/json", **(headers or {})}
        for attempt in (1, 2):
            try:
                response = await self._http.get().request(method, url, data=data, content=content, headers=headers)
                break
            except httpx.ConnectError:
                # Nothing reached the provider, so a second attempt cannot do harm twice.
                if attempt == 1:
                    await anyio.sleep(CONNECT_RETRY_DELAY_SECONDS)
                    continue
                self.log_failure("connection refused or unreachable", started=started)
                raise ProviderUnavailable() from None
            except httpx.TimeoutException:
                self.log_failure("timed out", started=started)
                raise ProviderTimeout() from None
            except httpx.TransportError as exc:
                self.log_failure(f"transport error {type(exc).__name__}", started=started)
                raise ProviderFailed("The identity provider dropped the connection.") from None
        return self._answer(response, started=started)

    def _answer(self, response: httpx.Response, *, started: float) -> ProviderAnswer:
        status = response.status_code
        if status == 429:
            self.log_failure("throttled", started=started, status=status)
            raise ProviderThrottled(retry_after=retry_after_seconds(response.headers.get("retry-after")))
        if status >= 500:
            self.log_failure("server error", started=started, status=status)
            if status == 503:
                raise ProviderUnavailable("The identity provider is unavailable.")
            if status == 504:
                raise ProviderTimeout()
            raise ProviderFailed()
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.log_failure("answer is not a JSON object", started=started, status=status)
            raise ProviderFailed()
        return ProviderAnswer(status_code=status, body=body, headers=response.headers)

    def unusable(self, reason: str, *, status: int | None = None, hint: str | None = None) -> ProviderFailed:
        """The 502 for an answer we cannot use, logged with our own words only."""
        self.log_failure(reason, status=status, hint=hint)
        return ProviderFailed()

    def log_failure(
        self, reason: str, *, started: float | None = None, status: int | None = None, hint: str | None = None
    ) -> None:
        extra: dict[str, Any] = {"provider": self.provider, "reason": reason}
        if status is not None:
            extra["status"] = status
        if started is not None:
            extra["elapsed_ms"] = round((time.monotonic() - started) * 1000)
        if hint:
            extra["hint"] = hint
        message = f"identity provider {self.provider}: {reason}"
        if status is not None:
            message += f", status {status}"
        if hint:
            message += f" ({hint})"
        logger.warning(message, extra=extra)


def retry_after_seconds(value: str | None) -> int | None:
    """A `Retry-After` given in seconds, clamped; HTTP dates and nonsense are ignored."""
    if value is None or not value.strip().isdigit():
        return None
    return max(1, min(int(value.strip()), MAX_RETRY_AFTER_SECONDS))


def error_code(value: object) -> str | None:
    """A provider's error code if it looks like one (`INVALID_PASSWORD`, `invalid_grant`).

    Codes are compared and may be logged; anything else a provider says is free text
    that may carry user data, so it is never passed on.
    """
    if not isinstance(value, str):
        return None
    code = value.strip()
    if code and len(code) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.-") for c in code):
        return code
    return None


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT a provider just handed us, without checking it.

    Only for reading what the provider told us about its own token (a lifetime, a user
    name to send back to it); never to decide whether a caller is who they say.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}
