"""Signing in: OAuth 2.0 tokens for the generated client, fetched, refreshed before they expire, and sent.

Hand-written (contract/python_client/oauth.py), copied into the package by `make clients`.

    from api_client import Client
    from api_client.api.users import whoami
    from api_client.oauth import password_grant

    auth = password_grant(BASE_URL, "user@example.com", "user-password")
    client = Client(base_url=BASE_URL, httpx_args={"auth": auth})
    claims = whoami.sync(client=client)

A service signs in with its own credentials at its identity provider instead
(`client_credentials(token_url, client_id, client_secret, scope)`): docs/recipes.md.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Generator
from urllib.parse import quote_plus

import httpx

from .models.token_grant import TokenGrant

# The API's token endpoint, from the OpenAPI document's password flow (written by `make clients`).
TOKEN_PATH = "/v1/auth/token"  # noqa: S105 - a URL path
# Refresh this long before the access token expires, so a request never carries a stale one.
REFRESH_MARGIN_SECONDS = 60.0


class SignInFailed(Exception):
    """The token endpoint refused: `error` is RFC 6749's code (`invalid_grant`: wrong credentials)."""

    def __init__(self, status_code: int, error: str, description: str) -> None:
        super().__init__(f"{status_code} {error}: {description}")
        self.status_code = status_code
        self.error = error
        self.description = description


class OAuthTokens(httpx.Auth):
    """An `httpx.Auth` that signs each request with a bearer token from an OAuth 2.0 token endpoint.

    The first request gets a token with `grant` (the form of a password or client-credentials
    grant); once it is within `refresh_margin` seconds of expiry it is refreshed with the refresh
    token where one was issued, else asked for again. A request the API refuses with 401 (a token
    revoked early) is sent once more with a new token.
    """

    requires_response_body = True

    def __init__(
        self,
        token_url: str,
        grant: dict[str, str],
        *,
        client_auth: tuple[str, str] | None = None,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.grant = grant
        self.client_auth = client_auth
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.tokens: TokenGrant | None = None
        self.expires_at = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.tokens is None or self.clock() >= self.expires_at - self.refresh_margin:
            yield from self._renew()
        response = yield self._signed(request)
        if response.status_code == httpx.codes.UNAUTHORIZED:
            self.tokens = None
            yield from self._renew()
            yield self._signed(request)

    def _signed(self, request: httpx.Request) -> httpx.Request:
        assert self.tokens is not None
        request.headers["Authorization"] = f"Bearer {self.tokens.access_token}"
        return request

    def _renew(self) -> Generator[httpx.Request, httpx.Response, None]:
        refresh_token = self.tokens.refresh_token if self.tokens is not None else None
        if isinstance(refresh_token, str) and refresh_token:
            response = yield self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
            if response.status_code == httpx.codes.OK:
                self._keep(response, refresh_token)
                return
        response = yield self._token_request(self.grant)
        if response.status_code != httpx.codes.OK:
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            raise SignInFailed(response.status_code, str(body.get("error", "")), str(body.get("error_description", "")))
        self._keep(response, None)

    def _token_request(self, form: dict[str, str]) -> httpx.Request:
        headers = {"Accept": "application/json"}
        if self.client_auth is not None:
            # RFC 6749 section 2.3.1: each part form-encoded, then HTTP Basic.
            user, secret = (quote_plus(part) for part in self.client_auth)
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _keep(self, response: httpx.Response, previous_refresh_token: str | None) -> None:
        tokens = TokenGrant.from_dict(response.json())
        # A refresh may keep the refresh token it was given (RFC 6749 section 6).
        if not isinstance(tokens.refresh_token, str) and previous_refresh_token is not None:
            tokens.refresh_token = previous_refresh_token
        self.tokens = tokens
        self.expires_at = self.clock() + tokens.expires_in


def password_grant(base_url: str, username: str, password: str, *, scope: str | None = None) -> OAuthTokens:
    """A user's sign-in at the API's own token endpoint (RFC 6749 section 4.3)."""
    form = {"grant_type": "password", "username": username, "password": password}
    if scope:
        form["scope"] = scope
    return OAuthTokens(base_url.rstrip("/") + TOKEN_PATH, form)


def client_credentials(token_url: str, client_id: str, client_secret: str, *, scope: str | None = None) -> OAuthTokens:
    """A service's sign-in at its identity provider's token endpoint (RFC 6749 section 4.4), with HTTP Basic."""
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return OAuthTokens(token_url, form, client_auth=(client_id, client_secret))
