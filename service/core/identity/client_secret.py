"""The client secret an identity provider module authenticates with, and where its value comes from.

Locally it may be a plain variable (`OIDC_CLIENT_SECRET`, `COGNITO_USER_POOL_CLIENT_SECRET`).
In Lambda the function's configuration carries only the secret's ARN (`*_SECRET_ARN`): the
value is read from Secrets Manager on first use, through the AWS Parameters and Secrets Lambda
Extension, a layer that answers on localhost and signs the call to Secrets Manager with the
function's role, so the service imports no AWS SDK. The extension is only reachable while an
invocation runs, and the value is read on the first token request, never at cold start.

The value is kept for `CLIENT_SECRET_CACHE_SECONDS` (the extension's own cache is off, so that
this is the one lifetime). When a provider refuses the client, the secret is read again: a
changed value means it was rotated, and the request is sent once more with the new one.

A secret that cannot be read answers 503 with one log line naming the ARN and what failed,
never the value.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import quote

from service.core.http import SharedHttpClient
from service.core.identity.base import ProviderUnavailable
from service.core.settings import Settings, aws_session_token

if TYPE_CHECKING:
    from pydantic import SecretStr

logger = logging.getLogger("service.identity")

# The extension's documented request header for its SSRF check: the session token.
SESSION_TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"  # noqa: S105 - a header name
# A read the extension answers from Secrets Manager in well under a second; a hung one must
# not eat the provider's whole deadline.
READ_TIMEOUT_SECONDS = 3.0
# Secrets Manager's error names (`AccessDeniedException`, `ResourceNotFoundException`) are
# safe to log; the rest of an error text is not needed.
_ERROR_NAME = re.compile(r"\b([A-Z][A-Za-z]+(?:Exception|Error))\b")

T = TypeVar("T")


class ClientSecretUnavailable(ProviderUnavailable):
    """The service could not read its own client secret: signing in is impossible for now."""

    def __init__(self) -> None:
        super().__init__("The service cannot read its credentials for the identity provider; try again later.")


class ClientSecret(Protocol):
    async def value(self) -> str:
        """The secret to send now."""
        ...

    async def reread(self) -> str:
        """The secret read again at its source, after the provider refused the one sent."""
        ...


class PlainClientSecret:
    """A value given in a variable: nothing to read again."""

    def __init__(self, value: str) -> None:
        self._value = value

    async def value(self) -> str:
        return self._value

    async def reread(self) -> str:
        return self._value


class SecretsManagerClientSecret:
    """A Secrets Manager secret read through the Parameters and Secrets extension, kept for a while."""

    def __init__(
        self,
        *,
        arn: str,
        http: SharedHttpClient,
        port: int,
        cache_seconds: float,
        provider: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.arn = arn
        self._http = http
        self._url = f"http://localhost:{port}/secretsmanager/get?secretId={quote(arn, safe='')}"
        self._cache_seconds = cache_seconds
        self._provider = provider
        self._clock = clock
        self._value: str | None = None
        self._read_at = 0.0

    async def value(self) -> str:
        if self._value is not None and self._clock() - self._read_at < self._cache_seconds:
            return self._value
        return await self.reread()

    async def reread(self) -> str:
        import httpx

        # Two requests arriving together before the first read may both read: harmless.
        headers = {SESSION_TOKEN_HEADER: aws_session_token() or "", "accept": "application/json"}
        try:
            response = await self._http.get().get(self._url, headers=headers, timeout=READ_TIMEOUT_SECONDS)
        except httpx.TimeoutException:
            raise self._failed("the Parameters and Secrets extension did not answer in time") from None
        except httpx.TransportError:
            raise self._failed(
                "the Parameters and Secrets extension cannot be reached (is its layer on the function?)"
            ) from None
        if response.status_code != 200:
            found = _ERROR_NAME.search(response.text[:500])
            raise self._failed(f"the extension answered {response.status_code} {found[1] if found else ''}".rstrip())
        try:
            body = response.json()
        except ValueError:
            body = None
        secret = body.get("SecretString") if isinstance(body, dict) else None
        if not isinstance(secret, str) or not secret:
            raise self._failed("the secret holds no SecretString (a binary or empty secret?)")
        self._value, self._read_at = secret, self._clock()
        return secret

    def _failed(self, reason: str) -> ClientSecretUnavailable:
        message = f"identity provider {self._provider}: cannot read the client secret {self.arn}: {reason}"
        logger.error(message, extra={"provider": self._provider, "secret_arn": self.arn, "reason": reason})
        return ClientSecretUnavailable()


def client_secret(
    *, plain: SecretStr | None, arn: str | None, settings: Settings, http: SharedHttpClient, provider: str
) -> ClientSecret | None:
    """The provider's client secret from its settings; None for a public client."""
    if arn is not None:
        return SecretsManagerClientSecret(
            arn=arn,
            http=http,
            port=settings.parameters_secrets_extension_http_port,
            cache_seconds=settings.client_secret_cache_seconds,
            provider=provider,
        )
    if plain is not None:
        return PlainClientSecret(plain.get_secret_value())
    return None


async def send_with_client_secret(
    secret: ClientSecret | None, send: Callable[[str | None], Awaitable[T]], *, refused: Callable[[T], bool]
) -> T:
    """`send(secret)`; once more if the provider refused the client and the secret has changed since.

    Only a refusal of the client itself is retried: the server authenticates the client before
    it looks at the grant, so the user's password has not been tried against the old secret.
    A public client (no secret) sends once.
    """
    if secret is None:
        return await send(None)
    used = await secret.value()
    answer = await send(used)
    if refused(answer):
        fresh = await secret.reread()
        if fresh != used:
            answer = await send(fresh)
    return answer
