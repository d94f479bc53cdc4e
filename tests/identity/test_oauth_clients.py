"""The token endpoint as OAuth client libraries see it: requests-oauthlib and Authlib, unchanged,
against the server `make dev` runs, for every identity provider behind it (the embedded issuer,
the Firebase Auth emulator, moto's Cognito, and `oidc` in front of another OAuth server).

Each library signs in, calls a protected route with the token it got and refreshes it; every
refusal comes back as the library's own typed error for the RFC 6749 code, and a throttled,
failing, down or slow provider as an error the library parses too.
"""

from __future__ import annotations

import abc
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError
from oauthlib.oauth2 import BackendApplicationClient, Client, LegacyApplicationClient, WebApplicationClient
from oauthlib.oauth2.rfc6749 import errors as oauthlib_errors
from requests_oauthlib import OAuth2Session

from service.core.settings import LOCAL_AUDIENCE, LOCAL_ISSUER
from tests.identity.conftest import ADMIN, API_KEY, DISABLED, NEEDS_NEW_PASSWORD, USER, Account
from tests.identity.standins import CognitoUserPool, FirebaseAuthEmulator
from tests.support import free_port, running_dev_server

pytestmark = pytest.mark.e2e

TOKEN_PATH = "/v1/auth/token"
JWKS_PATH = "/v1/auth/local/.well-known/jwks.json"
# The libraries add these as HTTP Basic (their default); the service accepts and ignores them.
CLIENT_ID = "an-api-consumer"
CLIENT_SECRET = "not-checked"
PROVIDERS = ["local", "firebase", "cognito", "oidc"]
DEADLINE_SECONDS = 1.0


class DevServers:
    """The servers `make dev` runs, one per identity provider, each started on first use."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> None:
        self._tmp = tmp_path_factory
        self._request = request
        self._stack = ExitStack()
        self._urls: dict[str, str] = {}

    def url(self, provider: str) -> str:
        if provider not in self._urls:
            self._urls[provider] = self._stack.enter_context(self._start(provider))
        return self._urls[provider]

    def _start(self, provider: str) -> AbstractContextManager[str]:
        workdir = self._tmp.mktemp(f"dev-{provider}")
        match provider:
            case "local":
                return running_dev_server(workdir, LOCAL_USERS_FILE=str(users_file(workdir)))
            case "firebase":
                emulator: FirebaseAuthEmulator = self._request.getfixturevalue("firebase_emulator")
                return running_dev_server(
                    workdir,
                    IDENTITY_PROVIDER="firebase",
                    FIREBASE_APP_API_KEY=API_KEY,
                    FIREBASE_AUTH_EMULATOR_HOST=emulator.host,
                    JWT_ISSUER=emulator.issuer,
                    JWT_AUDIENCE=emulator.project_id,
                )
            case "cognito":
                pool: CognitoUserPool = self._request.getfixturevalue("cognito_pool")
                return running_dev_server(
                    workdir,
                    IDENTITY_PROVIDER="cognito",
                    COGNITO_USER_POOL_CLIENT_ID=pool.client_id,
                    AWS_REGION=pool.region,
                    AWS_ENDPOINT_URL_COGNITO_IDP=pool.endpoint,
                    JWT_ISSUER=pool.issuer,
                    JWT_AUDIENCE=pool.client_id,
                    JWT_ISSUER_JWKS_URI=pool.jwks_uri,
                    JWT_AUTHORIZATION_GROUPS_ATTR_NAME="cognito:groups",
                )
            case "oidc":
                # Another OAuth 2.0 server behind this one: the embedded issuer of a second dev server.
                upstream = self.url("local")
                return oidc_dev_server(workdir, token_url=upstream + TOKEN_PATH, jwks_uri=upstream + JWKS_PATH)
            case _:
                raise ValueError(provider)

    def close(self) -> None:
        self._stack.close()


def users_file(workdir: Path) -> Path:
    """The embedded issuer's users: the same accounts the stand-ins hold."""

    def user(account: Account, **extra: Any) -> dict[str, Any]:
        hashed = bcrypt.hashpw(account.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        return {"username": account.username, "password_hash": hashed, **extra}

    users = [
        user(ADMIN, groups=["ADMINS", "USERS"], scopes=["reports:read"]),
        user(USER, groups=["USERS"]),
        user(DISABLED, groups=["ADMINS"], disabled=True),
    ]
    path = workdir / "users.json"
    path.write_text(json.dumps({"users": users}))
    return path


def oidc_dev_server(workdir: Path, *, token_url: str, jwks_uri: str) -> AbstractContextManager[str]:
    """`make dev` with IDENTITY_PROVIDER=oidc, its tokens those of the embedded issuer at `jwks_uri`."""
    return running_dev_server(
        workdir,
        IDENTITY_PROVIDER="oidc",
        OIDC_CLIENT_ID="fastapi-lambda",
        OIDC_TOKEN_URL=token_url,
        PROVIDER_TIMEOUT_SECONDS=str(DEADLINE_SECONDS),
        JWT_ISSUER=LOCAL_ISSUER,
        JWT_AUDIENCE=LOCAL_AUDIENCE,
        JWT_ISSUER_JWKS_URI=jwks_uri,
    )


@pytest.fixture(scope="module")
def dev_servers(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[DevServers]:
    servers = DevServers(tmp_path_factory, request)
    yield servers
    servers.close()


@pytest.fixture(autouse=True)
def plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # oauthlib insists on HTTPS unless told this is a local test; the dev server is plain HTTP.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]
    body: Any
    request_headers: Mapping[str, str | bytes]


class ClientLibrary(abc.ABC):
    """What a consumer's code does with one OAuth client library.

    `token_answers` records each token endpoint answer the library saw, through the
    library's own response hook.
    """

    name: str

    def __init__(self) -> None:
        self.token_answers: list[Answer] = []

    @abc.abstractmethod
    def sign_in(self, base_url: str, account: Account, *, scope: str | None = None) -> Tokens: ...

    @abc.abstractmethod
    def refresh(self, base_url: str, refresh_token: str) -> Tokens: ...

    @abc.abstractmethod
    def call(self, url: str, tokens: Tokens) -> Answer:
        """A protected route, with the token put on the request by the library."""

    @abc.abstractmethod
    def client_credentials(self, base_url: str) -> object: ...

    @abc.abstractmethod
    def authorization_code(self, base_url: str) -> object: ...

    @abc.abstractmethod
    def raises(self, error: str) -> AbstractContextManager[object]:
        """The library's typed error for an RFC 6749 `error` code."""


# oauthlib raises the first class it defines for a code: for invalid_request, one of two.
OAUTHLIB_ERRORS: dict[str, tuple[type[oauthlib_errors.OAuth2Error], ...]] = {
    "invalid_request": (oauthlib_errors.InvalidRequestError, oauthlib_errors.InvalidRequestFatalError),
    "invalid_grant": (oauthlib_errors.InvalidGrantError,),
    "invalid_scope": (oauthlib_errors.InvalidScopeError,),
    "unsupported_grant_type": (oauthlib_errors.UnsupportedGrantTypeError,),
    "temporarily_unavailable": (oauthlib_errors.TemporarilyUnavailableError,),
    "server_error": (oauthlib_errors.ServerError,),
}


class RequestsOAuthlib(ClientLibrary):
    """requests-oauthlib's OAuth2Session, whose errors are oauthlib's classes, one per code."""

    name = "requests-oauthlib"

    def _session(self, client: Client | None = None, **options: Any) -> OAuth2Session:
        session = OAuth2Session(client_id=CLIENT_ID, client=client, **options)
        for hook in ("access_token_response", "refresh_token_response"):
            session.register_compliance_hook(hook, self._record)
        return session

    def _record(self, response: requests.Response) -> requests.Response:
        self.token_answers.append(
            Answer(response.status_code, response.headers, response.text, response.request.headers)
        )
        return response

    def sign_in(self, base_url: str, account: Account, *, scope: str | None = None) -> Tokens:
        session = self._session(LegacyApplicationClient(client_id=CLIENT_ID, scope=scope))
        token = session.fetch_token(
            base_url + TOKEN_PATH, username=account.username, password=account.password, client_secret=CLIENT_SECRET
        )
        return Tokens(token["access_token"], token["refresh_token"])

    def refresh(self, base_url: str, refresh_token: str) -> Tokens:
        token = self._session().refresh_token(base_url + TOKEN_PATH, refresh_token=refresh_token)
        return Tokens(token["access_token"], token["refresh_token"])

    def call(self, url: str, tokens: Tokens) -> Answer:
        answer = self._session(token={"access_token": tokens.access_token, "token_type": "bearer"}).get(url)
        return Answer(answer.status_code, answer.headers, answer.json(), answer.request.headers)

    def client_credentials(self, base_url: str) -> object:
        session = self._session(BackendApplicationClient(client_id=CLIENT_ID))
        return session.fetch_token(base_url + TOKEN_PATH, client_secret=CLIENT_SECRET)

    def authorization_code(self, base_url: str) -> object:
        session = self._session(WebApplicationClient(client_id=CLIENT_ID), redirect_uri="http://127.0.0.1/cb")
        return session.fetch_token(base_url + TOKEN_PATH, code="a-code", client_secret=CLIENT_SECRET)

    @contextmanager
    def raises(self, error: str) -> Iterator[object]:
        with pytest.raises(OAUTHLIB_ERRORS[error]) as raised:
            yield raised
        assert raised.value.error == error
        assert raised.value.description


class Authlib(ClientLibrary):
    """Authlib's OAuth2Session (its requests client), whose one error type carries the code as `error`."""

    name = "authlib"

    def _client(self, scope: str | None = None, **options: Any) -> AuthlibSession:
        client = AuthlibSession(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, scope=scope, **options)
        for hook in ("access_token_response", "refresh_token_response"):
            client.register_compliance_hook(hook, self._record)
        return client

    def _record(self, response: requests.Response) -> requests.Response:
        self.token_answers.append(
            Answer(response.status_code, response.headers, response.text, response.request.headers)
        )
        return response

    def sign_in(self, base_url: str, account: Account, *, scope: str | None = None) -> Tokens:
        with self._client(scope) as client:
            token = client.fetch_token(base_url + TOKEN_PATH, username=account.username, password=account.password)
        return Tokens(token["access_token"], token["refresh_token"])

    def refresh(self, base_url: str, refresh_token: str) -> Tokens:
        with self._client() as client:
            token = client.refresh_token(base_url + TOKEN_PATH, refresh_token=refresh_token)
        return Tokens(token["access_token"], token["refresh_token"])

    def call(self, url: str, tokens: Tokens) -> Answer:
        with self._client(token={"access_token": tokens.access_token, "token_type": "bearer"}) as client:
            answer = client.get(url)
        return Answer(answer.status_code, answer.headers, answer.json(), answer.request.headers)

    def client_credentials(self, base_url: str) -> object:
        with self._client() as client:
            return client.fetch_token(base_url + TOKEN_PATH, grant_type="client_credentials")

    def authorization_code(self, base_url: str) -> object:
        with self._client() as client:
            return client.fetch_token(base_url + TOKEN_PATH, grant_type="authorization_code", code="a-code")

    @contextmanager
    def raises(self, error: str) -> Iterator[object]:
        with pytest.raises(OAuthError) as raised:
            yield raised
        assert raised.value.error == error
        assert raised.value.description


LIBRARIES = [RequestsOAuthlib(), Authlib()]
LIBRARY_IDS = [library.name for library in LIBRARIES]


@pytest.mark.parametrize("library", LIBRARIES, ids=LIBRARY_IDS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_sign_in_call_a_protected_route_and_refresh(
    dev_servers: DevServers, provider: str, library: ClientLibrary
) -> None:
    base_url = dev_servers.url(provider)

    tokens = library.sign_in(base_url, ADMIN)
    sign_in = library.token_answers[-1]
    whoami = library.call(base_url + "/v1/users/whoami", tokens)
    refreshed = library.refresh(base_url, tokens.refresh_token)
    again = library.call(base_url + "/v1/admin/endpoints", refreshed)

    assert whoami.status_code == 200, whoami.body
    assert ADMIN.username in whoami.body.values()
    assert again.status_code == 200, again.body
    # Each library sent its client credentials as HTTP Basic, its default, and nothing broke.
    assert str(sign_in.request_headers["authorization"]).startswith("Basic ")


@dataclass(frozen=True)
class Refusal:
    error: str
    attempt: Callable[[ClientLibrary, str], object]
    providers: tuple[str, ...] = tuple(PROVIDERS)


REFUSALS = {
    "wrong password": Refusal("invalid_grant", lambda lib, url: lib.sign_in(url, Account(ADMIN.username, "Wrong-pw9"))),
    "unknown user": Refusal("invalid_grant", lambda lib, url: lib.sign_in(url, Account("nobody@example.com", "Pw-1x"))),
    "disabled account": Refusal("invalid_grant", lambda lib, url: lib.sign_in(url, DISABLED)),
    "a further step needed": Refusal(
        "invalid_grant", lambda lib, url: lib.sign_in(url, NEEDS_NEW_PASSWORD), providers=("cognito",)
    ),
    "bad refresh token": Refusal("invalid_grant", lambda lib, url: lib.refresh(url, "not-a-refresh-token")),
    "client_credentials grant": Refusal("unsupported_grant_type", lambda lib, url: lib.client_credentials(url)),
    "authorization_code grant": Refusal("unsupported_grant_type", lambda lib, url: lib.authorization_code(url)),
    "no password": Refusal("invalid_request", lambda lib, url: lib.sign_in(url, Account(ADMIN.username, ""))),
    "a scope the user may not have": Refusal(
        "invalid_scope", lambda lib, url: lib.sign_in(url, USER, scope="reports:read")
    ),
}
REFUSAL_CASES = [
    pytest.param(provider, name, id=f"{provider}-{name}")
    for name, refusal in REFUSALS.items()
    for provider in refusal.providers
]


@pytest.mark.parametrize("library", LIBRARIES, ids=LIBRARY_IDS)
@pytest.mark.parametrize(("provider", "case"), REFUSAL_CASES)
def test_each_refusal_is_the_librarys_typed_error_for_its_code(
    dev_servers: DevServers, provider: str, case: str, library: ClientLibrary
) -> None:
    refusal = REFUSALS[case]
    base_url = dev_servers.url(provider)

    with library.raises(refusal.error):
        refusal.attempt(library, base_url)


class FaultyProvider(http.server.BaseHTTPRequestHandler):
    """An OAuth server's token endpoint that throttles, fails, is down or is slow, as told."""

    mode = "throttled"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        match FaultyProvider.mode:
            case "throttled":
                self._answer(429, b'{"error": "slow_down"}', retry_after="7")
            case "failing":
                self._answer(500, b"<html>Internal Server Error</html>")
            case "down":
                self._answer(503, b"<html>Service Unavailable</html>")
            case "slow":
                time.sleep(DEADLINE_SECONDS * 2)
                self._answer(200, b"{}")

    def _answer(self, status: int, body: bytes, *, retry_after: str | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", "text/html" if body.startswith(b"<") else "application/json")
        if retry_after:
            self.send_header("retry-after", retry_after)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def faulty_provider_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make dev` with IDENTITY_PROVIDER=oidc in front of the faulty token endpoint."""
    faulty = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FaultyProvider)
    faulty.daemon_threads = True
    threading.Thread(target=faulty.serve_forever, daemon=True).start()
    token_url = f"http://127.0.0.1:{faulty.server_address[1]}/token"
    try:
        # No token is ever issued here, so the key set is never asked for.
        jwks_uri = token_url + "/unused-jwks"
        with oidc_dev_server(tmp_path_factory.mktemp("dev-faulty"), token_url=token_url, jwks_uri=jwks_uri) as base_url:
            yield base_url
    finally:
        faulty.shutdown()
        faulty.server_close()


@pytest.fixture(scope="module")
def unreachable_provider_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make dev` with IDENTITY_PROVIDER=oidc in front of a port nobody listens on."""
    token_url = f"http://127.0.0.1:{free_port()}/token"
    jwks_uri = token_url + "/unused-jwks"
    with oidc_dev_server(
        tmp_path_factory.mktemp("dev-unreachable"), token_url=token_url, jwks_uri=jwks_uri
    ) as base_url:
        yield base_url


FAULTS = {
    "throttled": (429, "temporarily_unavailable"),
    "failing": (502, "server_error"),
    "down": (503, "temporarily_unavailable"),
    "slow": (504, "temporarily_unavailable"),
    "unreachable": (503, "temporarily_unavailable"),
}


@pytest.mark.parametrize("library", LIBRARIES, ids=LIBRARY_IDS)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_provider_throttled_failing_down_or_slow_is_an_error_the_library_parses(
    request: pytest.FixtureRequest, fault: str, library: ClientLibrary
) -> None:
    status, error = FAULTS[fault]
    if fault == "unreachable":
        base_url: str = request.getfixturevalue("unreachable_provider_server")
    else:
        base_url = request.getfixturevalue("faulty_provider_server")
        FaultyProvider.mode = fault

    if isinstance(library, Authlib) and status >= 500:
        # Authlib reads no body from a 5xx: it raises the HTTP error, whose response still parses.
        with pytest.raises(requests.HTTPError) as raised:
            library.sign_in(base_url, ADMIN)
        assert raised.value.response is not None
        assert raised.value.response.json()["error"] == error
    else:
        with library.raises(error):
            library.sign_in(base_url, ADMIN)

    answer = library.token_answers[-1]
    assert answer.status_code == status
    if fault == "throttled":
        assert answer.headers["retry-after"] == "7"
