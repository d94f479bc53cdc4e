"""IDENTITY_PROVIDER=oidc against an OAuth 2.0 server played by an httpx mock transport.

The fake serves discovery, a JWKS and a token endpoint, and signs RS256 access tokens, so the
tokens it issues go through the same verification as any issuer's.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.core.access.declaration import KNOWN_SCOPES, RouteAccess
from service.core.http import SharedHttpClient
from service.core.identity.local import public_jwk
from tests.declared import SCOPE, THROWAWAY_SCOPE
from tests.identity.conftest import ADMIN, DISABLED, USER, Account, bearer, build_app, refresh_request, token_request
from tests.support import assert_oauth_error

ISSUER = "https://idp.example.test/realms/demo"
TOKEN_URL = f"{ISSUER}/protocol/openid-connect/token"
CLIENT_ID = "fastapi-lambda"
CLIENT_SECRET = "s3cret:with/odd+chars"
AUDIENCE = "https://api.example.test"
MFA = Account("mfa@example.com", "Mfa-password1")
# The scopes the fake server grants; it refuses any other with invalid_scope, as Keycloak does.
# A scope the service declares where it has one (a name the provider passes on, whatever it is).
ANY_SCOPE = SCOPE or "reports:read"
GRANTABLE_SCOPES = {"openid", "email", ANY_SCOPE, THROWAWAY_SCOPE, *KNOWN_SCOPES}


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeOAuthServer:
    """Keycloak-like answers: invalid_grant for bad credentials, "Account disabled" for a disabled user."""

    key: rsa.RSAPrivateKey
    token_requests: list[httpx.Request] = field(default_factory=list)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, tuple[str, list[str]]] = field(
        default_factory=lambda: {
            ADMIN.username: (ADMIN.password, ["ADMINS", "USERS"]),
            USER.username: (USER.password, ["USERS"]),
            DISABLED.username: (DISABLED.password, ["ADMINS"]),
            MFA.username: (MFA.password, ["USERS"]),
        }
    )

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return httpx.Response(
                200, json={"issuer": ISSUER, "token_endpoint": TOKEN_URL, "jwks_uri": f"{ISSUER}/certs"}
            )
        if url == f"{ISSUER}/certs":
            return httpx.Response(200, json={"keys": [public_jwk(self.key.public_key())]})
        if url == TOKEN_URL and request.method == "POST":
            self.token_requests.append(request)
            return self._token(dict(parse_qsl(request.content.decode())))
        return httpx.Response(404, text="not here")

    def _token(self, form: dict[str, str]) -> httpx.Response:
        if form.get("grant_type") == "password":
            username = form.get("username", "")
            password, _ = self.users.get(username, (None, []))
            if password is None or password != form.get("password"):
                return _oauth_error("invalid_grant", "Invalid user credentials")
            if username == DISABLED.username:
                return _oauth_error("invalid_grant", "Account disabled")
            if username == MFA.username:
                return _oauth_error("mfa_required", "Multifactor authentication required", status=403)
            scope = form.get("scope", "")
            if set(scope.split()) - GRANTABLE_SCOPES:
                return _oauth_error("invalid_scope", f"Invalid scopes: {scope}")
            return self._issue(username, scope)
        if form.get("grant_type") == "refresh_token":
            username = self.refresh_tokens.get(form.get("refresh_token", ""), "")
            if not username:
                return _oauth_error("invalid_grant", "Token is not active")
            return self._issue(username, "openid")
        return _oauth_error("unsupported_grant_type", "Unsupported grant type")

    def _issue(self, username: str, scope: str) -> httpx.Response:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": username,
            "iat": now,
            "exp": now + 300,
            "scope": scope,
            "roles": self.users[username][1],
        }
        kid = public_jwk(self.key.public_key())["kid"]
        refresh_token = secrets.token_urlsafe(24)
        self.refresh_tokens[refresh_token] = username
        access_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": kid})
        body = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "refresh_token": refresh_token,
            "scope": scope,
        }
        return httpx.Response(200, json=body)

    def last_form(self) -> dict[str, str]:
        return dict(parse_qsl(self.token_requests[-1].content.decode()))


def _oauth_error(error: str, description: str, *, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description})


def oidc_settings(**overrides: Any) -> dict[str, Any]:
    return {
        "identity_provider": "oidc",
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "oidc_audience": AUDIENCE,
        "oidc_scope": "openid email",
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "jwt_authorization_groups_attr_name": "roles",
        **overrides,
    }


def with_transport(app: FastAPI, handler: Callable[[httpx.Request], httpx.Response]) -> FastAPI:
    """The app's one HTTP client, talking to `handler` instead of the network."""
    app.state.http = SharedHttpClient(
        timeout_seconds=app.state.settings.provider_timeout_seconds, transport=httpx.MockTransport(handler)
    )
    return app


@pytest.fixture
def server(signing_key: rsa.RSAPrivateKey) -> FakeOAuthServer:
    return FakeOAuthServer(signing_key)


@pytest.fixture
def make_client(server: FakeOAuthServer) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(with_transport(build_app(**oidc_settings(**overrides)), server.handle))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.parametrize("token_url", [None, TOKEN_URL], ids=["from discovery", "from OIDC_TOKEN_URL"])
def test_admin_signs_in_and_reaches_whoami_and_the_admin_route(
    make_client: Callable[..., TestClient], token_url: str | None
) -> None:
    client = make_client(oidc_token_url=token_url)

    response = token_request(client, ADMIN)

    assert response.status_code == 200
    grant = response.json()
    assert grant["token_type"] == "bearer"
    assert grant["expires_in"] == 300
    whoami = client.get("/v1/users/whoami", headers=bearer(grant["access_token"]))
    assert whoami.json()["sub"] == ADMIN.username
    # JWT_AUTHORIZATION_GROUPS_ATTR_NAME=roles maps the provider's roles claim to groups.
    assert client.get("/v1/admin/endpoints", headers=bearer(grant["access_token"])).status_code == 200
    user_token = token_request(client, USER).json()["access_token"]
    assert client.get("/v1/admin/endpoints", headers=bearer(user_token)).status_code == 403


def test_the_client_authenticates_with_http_basic_and_sends_audience_and_default_scope(
    make_client: Callable[..., TestClient], server: FakeOAuthServer
) -> None:
    token_request(make_client(), ADMIN)

    request = server.token_requests[-1]
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    assert scheme == "Basic"
    assert (unquote_plus(client_id), unquote_plus(secret)) == (CLIENT_ID, CLIENT_SECRET)
    form = server.last_form()
    assert "client_secret" not in form
    assert form["audience"] == AUDIENCE
    assert form["scope"] == "openid email"


def test_client_secret_post_sends_the_credentials_in_the_form_and_the_callers_scope_wins(
    make_client: Callable[..., TestClient], server: FakeOAuthServer
) -> None:
    token_request(make_client(oidc_token_auth_method="client_secret_post"), ADMIN, scope=ANY_SCOPE)

    assert "authorization" not in server.token_requests[-1].headers
    form = server.last_form()
    assert (form["client_id"], form["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    assert form["scope"] == ANY_SCOPE


def test_a_public_client_sends_only_its_id(make_client: Callable[..., TestClient], server: FakeOAuthServer) -> None:
    token_request(make_client(oidc_client_secret=None), ADMIN)

    assert "authorization" not in server.token_requests[-1].headers
    form = server.last_form()
    assert form["client_id"] == CLIENT_ID
    assert "client_secret" not in form


def test_scopes_granted_by_the_provider_reach_scoped_routes(
    scoped: RouteAccess, make_client: Callable[..., TestClient], server: FakeOAuthServer
) -> None:
    route = scoped
    # A provider's user in one of the route's groups, whichever the app declares.
    caller = Account("caller@example.com", "Caller-password1")
    server.users[caller.username] = (caller.password, list(route.groups[:1]))
    client = make_client()

    with_scope = token_request(client, caller, scope=" ".join(route.scopes)).json()["access_token"]
    without = token_request(client, caller, scope="openid").json()["access_token"]

    assert client.get(route.path, headers=bearer(with_scope)).status_code == 200
    assert client.get(route.path, headers=bearer(without)).status_code == 403


def test_refresh_grant_returns_a_working_access_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    first = token_request(client, ADMIN).json()

    response = refresh_request(client, first["refresh_token"])

    assert response.status_code == 200
    assert response.json()["refresh_token"] != first["refresh_token"]
    assert client.get("/v1/users/whoami", headers=bearer(response.json()["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("account", "code"),
    [
        (Account(ADMIN.username, "wrong"), "invalid_credentials"),
        (Account("nobody@example.com", "wrong"), "invalid_credentials"),
        (DISABLED, "user_disabled"),
        (MFA, "sign_in_incomplete"),
    ],
    ids=["wrong password", "unknown user", "disabled", "mfa required"],
)
def test_provider_refusals_are_invalid_grant_saying_why(
    make_client: Callable[..., TestClient], account: Account, code: str
) -> None:
    response = token_request(make_client(), account)

    assert_oauth_error(response, error="invalid_grant", code=code)
    assert "Invalid user credentials" not in response.text


def test_an_inactive_refresh_token_is_invalid_grant(make_client: Callable[..., TestClient]) -> None:
    response = refresh_request(make_client(), "revoked")

    assert_oauth_error(response, error="invalid_grant", code="invalid_refresh_token")


def test_a_scope_the_server_refuses_is_invalid_scope(make_client: Callable[..., TestClient]) -> None:
    response = token_request(make_client(), ADMIN, scope=f"{ANY_SCOPE} admin:everything")

    assert_oauth_error(response, error="invalid_scope", code="invalid_scope")
    assert "admin:everything" not in response.text


def test_a_narrower_grant_by_the_server_is_passed_on_with_its_scope(server: FakeOAuthServer) -> None:
    def narrow(request: httpx.Request) -> httpx.Response:
        answer = server.handle(request)
        if request.url == TOKEN_URL and answer.status_code == 200:
            # RFC 6749 section 3.3: a server may grant less than asked, and then says what.
            return httpx.Response(200, json={**answer.json(), "scope": "openid"})
        return answer

    with TestClient(with_transport(build_app(**oidc_settings()), narrow)) as client:
        response = token_request(client, ADMIN, scope=f"openid {ANY_SCOPE}")

    assert response.status_code == 200
    assert response.json()["scope"] == "openid"


@pytest.mark.parametrize(
    ("upstream", "status", "error", "code"),
    [
        (_oauth_error("invalid_request", "Missing parameter: username"), 400, "invalid_request", "invalid_request"),
        (
            _oauth_error("unsupported_grant_type", "Grant password not allowed for client"),
            400,
            "unsupported_grant_type",
            "unsupported_grant_type",
        ),
        (_oauth_error("server_error", "NullPointerException at line 42"), 502, "server_error", "provider_error"),
        (
            _oauth_error("temporarily_unavailable", "Maintenance until 10:00"),
            503,
            "temporarily_unavailable",
            "provider_unavailable",
        ),
        (_oauth_error("unauthorized_client", "Client not allowed: x"), 502, "server_error", "provider_error"),
        (_oauth_error("some_vendor_code", "Something of the vendor's"), 502, "server_error", "provider_error"),
        (_oauth_error("<b>not a code</b>", "Markup"), 502, "server_error", "provider_error"),
    ],
    ids=[
        "invalid_request",
        "unsupported_grant_type",
        "server_error",
        "temporarily_unavailable",
        "unauthorized_client",
        "a vendor's code",
        "not a code",
    ],
)
def test_an_upstream_oauth_error_is_passed_on_as_its_code_with_our_description(
    server: FakeOAuthServer, upstream: httpx.Response, status: int, error: str, code: str
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return upstream if request.url == TOKEN_URL else server.handle(request)

    with TestClient(with_transport(build_app(**oidc_settings()), refuse)) as client:
        response = token_request(client, ADMIN)

    assert_oauth_error(response, status=status, error=error, code=code)
    assert upstream.json()["error_description"] not in response.text


def test_a_misconfigured_client_is_502_without_the_providers_words(
    server: FakeOAuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse_client(request: httpx.Request) -> httpx.Response:
        if request.url == TOKEN_URL:
            return _oauth_error("invalid_client", "Invalid client secret for client fastapi-lambda", status=401)
        return server.handle(request)

    with TestClient(with_transport(build_app(**oidc_settings()), refuse_client)) as client:
        response = token_request(client, ADMIN)

    assert_oauth_error(response, status=502, error="server_error", code="provider_error")
    assert "secret" not in response.text.lower()
    assert "invalid_client" in caplog.text
    assert "Invalid client secret" not in caplog.text


def test_throttling_passes_on_retry_after(server: FakeOAuthServer) -> None:
    def throttle(request: httpx.Request) -> httpx.Response:
        if request.url == TOKEN_URL:
            return httpx.Response(429, headers={"retry-after": "17"}, json={"error": "too_many_attempts"})
        return server.handle(request)

    with TestClient(with_transport(build_app(**oidc_settings()), throttle)) as client:
        response = token_request(client, ADMIN)

    assert_oauth_error(response, status=429, error="temporarily_unavailable", code="throttled")
    assert response.headers["retry-after"] == "17"
