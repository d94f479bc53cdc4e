"""Apps in both runtimes, tokens from the embedded issuer, and a key to forge them with."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.core.access.declaration import KNOWN_SCOPES
from service.core.identity.local import load_or_create_signing_key, public_jwk
from service.core.settings import LOCAL_AUDIENCE, LOCAL_ISSUER, Settings
from tests.declared import DECLARED_GROUPS, THROWAWAY_ROUTE

ADMIN = ("admin@example.com", "admin-password")
USER = ("user@example.com", "user-password")


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One signing key for the session: generating RSA keys per test would be slow."""
    path = tmp_path_factory.mktemp("local-idp") / "key.pem"
    load_or_create_signing_key(path)
    return path


@pytest.fixture
def make_local_app(key_file: Path) -> Callable[..., FastAPI]:
    def make(**overrides: Any) -> FastAPI:
        values: dict[str, Any] = {"runtime": "LOCAL", "identity_provider": "local", "local_idp_key_file": key_file}
        values.update(overrides)
        return create_app(Settings(**values))

    return make


@pytest.fixture
def client(make_local_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with TestClient(make_local_app()) as test_client:
        yield test_client


def password_grant(client: TestClient | httpx.Client, username: str, password: str) -> dict[str, Any]:
    response = client.post("/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TokenForger:
    """Signs arbitrary claims with the embedded issuer's key, or another one."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key
        self.kid = public_jwk(key.public_key())["kid"]

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "sub": "someone@example.com",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "scope": " ".join(KNOWN_SCOPES),  # every scope the app declares
            # Every group a route asks for, the throwaway routes' too: each route's group check lets it in.
            "groups": [*DECLARED_GROUPS, *THROWAWAY_ROUTE.groups],
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        alg: str = "RS256",
    ) -> str:
        return jwt.encode(claims, key or self.key, algorithm=alg, headers={"kid": kid or self.kid})

    def token(self, **overrides: Any) -> str:
        return self.sign(self.claims(**overrides))


@pytest.fixture(scope="session")
def forger(key_file: Path) -> TokenForger:
    return TokenForger(load_or_create_signing_key(key_file))
