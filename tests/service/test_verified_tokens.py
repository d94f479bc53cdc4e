"""The local authorizer remembers a token that passed, and answers nothing else from memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import jwt
import pytest

from service.core.access import local_authorizer
from service.core.access.local_authorizer import LEEWAY_SECONDS, LocalAuthorizer
from service.core.errors import GatewayRejection
from service.core.identity.local import public_jwk
from service.core.settings import LOCAL_AUDIENCE, LOCAL_ISSUER
from tests.service.conftest import TokenForger

# The gateway's step checks a route's scopes against the token's, whatever their names.
SCOPE = "reports:read"


class CountingKeys:
    """The forger's public key, counting how often the gateway had to look it up."""

    def __init__(self, forger: TokenForger) -> None:
        self.kid = forger.kid
        self.key = jwt.PyJWK(public_jwk(forger.key.public_key()))
        self.lookups = 0

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        self.lookups += 1
        return self.key if kid == self.kid else None


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def keys(forger: TokenForger) -> CountingKeys:
    return CountingKeys(forger)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(keys: CountingKeys, clock: Clock) -> LocalAuthorizer:
    return LocalAuthorizer(issuer=LOCAL_ISSUER, audiences=[LOCAL_AUDIENCE], keys=keys, clock=clock)


def test_a_token_is_verified_once_while_it_is_valid(
    gateway: LocalAuthorizer, keys: CountingKeys, forger: TokenForger
) -> None:
    token = forger.token(scope=SCOPE)

    first = run(gateway.authorize(f"Bearer {token}", []))
    again = run(gateway.authorize(token, [SCOPE]))

    assert keys.lookups == 1
    assert again["claims"] == first["claims"]
    assert first["scopes"] is None
    assert again["scopes"] == [SCOPE]


def test_a_remembered_token_is_refused_once_it_has_expired(
    gateway: LocalAuthorizer, clock: Clock, forger: TokenForger
) -> None:
    token = forger.token(exp=int(clock.now) + 60)
    run(gateway.authorize(f"Bearer {token}", []))

    clock.now += 60 + LEEWAY_SECONDS

    with pytest.raises(GatewayRejection) as refused:
        run(gateway.authorize(f"Bearer {token}", []))
    assert refused.value.status_code == 401
    assert refused.value.description == "the token has expired"


def test_a_remembered_token_still_needs_the_routes_scope(gateway: LocalAuthorizer, forger: TokenForger) -> None:
    token = forger.token(scope="")
    run(gateway.authorize(f"Bearer {token}", []))

    with pytest.raises(GatewayRejection) as refused:
        run(gateway.authorize(f"Bearer {token}", [SCOPE]))
    assert refused.value.status_code == 403


def test_only_the_identical_token_is_answered_from_memory(
    gateway: LocalAuthorizer, keys: CountingKeys, forger: TokenForger
) -> None:
    token = forger.token()
    run(gateway.authorize(f"Bearer {token}", []))
    signing_input, signature = token.rsplit(".", 1)
    tampered = f"{signing_input}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"

    with pytest.raises(GatewayRejection) as refused:
        run(gateway.authorize(f"Bearer {tampered}", []))
    assert refused.value.status_code == 401
    assert keys.lookups == 2


def test_only_the_latest_tokens_are_remembered(
    gateway: LocalAuthorizer, keys: CountingKeys, forger: TokenForger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_authorizer, "VERIFIED_TOKENS_KEPT", 3)
    tokens = [forger.token(sub=f"user-{n}@example.com") for n in range(4)]
    for token in tokens:
        run(gateway.authorize(token, []))

    run(gateway.authorize(tokens[-1], []))
    assert keys.lookups == 4
    run(gateway.authorize(tokens[0], []))
    assert keys.lookups == 5
