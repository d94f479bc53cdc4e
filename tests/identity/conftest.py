"""The stand-ins (Firebase Auth emulator, moto's Cognito), fault servers, and apps wired to them."""

from __future__ import annotations

import http.server
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.core.settings import Settings
from tests.identity.standins import (
    CognitoUserPool,
    FirebaseAuthEmulator,
    MotoCognito,
    firebase_auth_emulator,
    moto_server,
)
from tests.support import free_port

API_KEY = "test-api-key-not-a-real-one"


@dataclass(frozen=True)
class Account:
    username: str
    password: str


ADMIN = Account("admin@example.com", "Admin-password1")
USER = Account("user@example.com", "User-password1")
DISABLED = Account("disabled@example.com", "Disabled-password1")
NEEDS_NEW_PASSWORD = Account("new@example.com", "Temporary-password1")


def token_request(client: TestClient, account: Account, **extra: str) -> Any:
    return client.post("/v1/auth/token", data={"username": account.username, "password": account.password, **extra})


def refresh_request(client: TestClient, refresh_token: str) -> Any:
    return client.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def build_app(**values: Any) -> FastAPI:
    """An app in RUNTIME=LOCAL from explicit settings only."""
    return create_app(Settings(runtime="LOCAL", docs_enabled=False, **values))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def firebase_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirebaseAuthEmulator]:
    with firebase_auth_emulator(tmp_path_factory.mktemp("firebase"), project_id="demo-fastapi-lambda") as emulator:
        emulator.create_user(ADMIN.username, ADMIN.password, groups=["ADMINS", "USERS"])
        emulator.create_user(USER.username, USER.password, groups=["USERS"])
        emulator.create_user(DISABLED.username, DISABLED.password, groups=["ADMINS"], disabled=True)
        yield emulator


def firebase_settings(emulator: FirebaseAuthEmulator, **overrides: Any) -> dict[str, Any]:
    return {
        "identity_provider": "firebase",
        "firebase_app_api_key": API_KEY,
        "firebase_auth_emulator_host": emulator.host,
        "jwt_issuer": emulator.issuer,
        "jwt_audience": emulator.project_id,
        **overrides,
    }


@pytest.fixture
def firebase_client(firebase_emulator: FirebaseAuthEmulator) -> Iterator[TestClient]:
    with TestClient(build_app(**firebase_settings(firebase_emulator))) as client:
        yield client


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def cognito_pool(moto_endpoint: str) -> CognitoUserPool:
    moto = MotoCognito(moto_endpoint)
    pool = moto.create_pool(f"pool-{uuid.uuid4().hex[:8]}")
    moto.create_user(pool, ADMIN.username, ADMIN.password, groups=["ADMINS", "USERS"])
    moto.create_user(pool, USER.username, USER.password, groups=["USERS"])
    moto.create_user(pool, DISABLED.username, DISABLED.password, groups=["ADMINS"], disabled=True)
    moto.create_user(pool, NEEDS_NEW_PASSWORD.username, NEEDS_NEW_PASSWORD.password, permanent_password=False)
    return pool


def cognito_settings(pool: CognitoUserPool, **overrides: Any) -> dict[str, Any]:
    return {
        "identity_provider": "cognito",
        "cognito_user_pool_client_id": pool.client_id,
        "aws_region": pool.region,
        "aws_endpoint_url_cognito_idp": pool.endpoint,
        "jwt_issuer": pool.issuer,
        "jwt_audience": pool.client_id,
        "jwt_issuer_jwks_uri": pool.jwks_uri,
        "jwt_authorization_groups_attr_name": "cognito:groups",
        **overrides,
    }


@pytest.fixture
def cognito_client(cognito_pool: CognitoUserPool) -> Iterator[TestClient]:
    with TestClient(build_app(**cognito_settings(cognito_pool))) as client:
        yield client


class _CannedAnswer(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b""
    content_type = "application/json"

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer()

    def _answer(self) -> None:
        self.send_response(self.status)
        self.send_header("content-type", self.content_type)
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def canned_server() -> Iterator[Callable[[int, bytes, str], str]]:
    """Starts loopback servers that answer every request alike; yields a factory of `host:port`."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(status: int, body: bytes, content_type: str = "application/json") -> str:
        handler = type("Handler", (_CannedAnswer,), {"status": status, "body": body, "content_type": content_type})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def stalled_server() -> Iterator[str]:
    """A port that accepts connections (the kernel completes the handshake) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def closed_port() -> str:
    """A loopback port nothing listens on: connections are refused."""
    return f"127.0.0.1:{free_port()}"
