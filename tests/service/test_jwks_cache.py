"""The issuer's key set is fetched once, and an unknown kid refreshes it at most once per interval."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from service.core.access.jwks import RemoteKeySet
from service.core.http import SharedHttpClient
from service.core.identity.local import public_jwk

ISSUER = "https://issuer.example.com"


class FakeIssuer:
    def __init__(self) -> None:
        self.keys = [public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())]
        self.requests: list[str] = []
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if self.down:
            return httpx.Response(503)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"})
        if request.url.path == "/keys":
            return httpx.Response(200, json={"keys": self.keys})
        return httpx.Response(404)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key_set(issuer: FakeIssuer, clock: Clock, jwks_uri: str | None = None) -> RemoteKeySet:
    http = SharedHttpClient(timeout_seconds=1, transport=httpx.MockTransport(issuer.handle))
    return RemoteKeySet(issuer=ISSUER, jwks_uri=jwks_uri, http=http, refresh_interval_seconds=300, clock=clock)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_keys_are_found_through_discovery_and_then_cached() -> None:
    issuer, clock = FakeIssuer(), Clock()
    keys = key_set(issuer, clock)
    kid = issuer.keys[0]["kid"]

    async def lookups() -> list[Any]:
        return [await keys.get_key(kid) for _ in range(5)]

    assert all(key is not None for key in run(lookups()))
    assert issuer.requests == ["/.well-known/openid-configuration", "/keys"]


def test_an_explicit_jwks_uri_skips_discovery() -> None:
    issuer, clock = FakeIssuer(), Clock()
    keys = key_set(issuer, clock, jwks_uri=f"{ISSUER}/keys")
    assert run(keys.get_key(issuer.keys[0]["kid"])) is not None
    assert issuer.requests == ["/keys"]


def test_unknown_kids_refresh_at_most_once_per_interval() -> None:
    issuer, clock = FakeIssuer(), Clock()
    keys = key_set(issuer, clock, jwks_uri=f"{ISSUER}/keys")

    async def flood() -> None:
        for attempt in range(50):
            assert await keys.get_key(f"made-up-{attempt}") is None

    run(flood())
    assert issuer.requests == ["/keys"]
    clock.now += 301
    run(flood())
    assert issuer.requests == ["/keys", "/keys"]


def test_a_rotated_key_is_picked_up_on_the_next_allowed_refresh() -> None:
    issuer, clock = FakeIssuer(), Clock()
    keys = key_set(issuer, clock, jwks_uri=f"{ISSUER}/keys")
    run(keys.get_key(issuer.keys[0]["kid"]))
    new_key = public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
    issuer.keys.append(new_key)
    clock.now += 301
    assert run(keys.get_key(new_key["kid"])) is not None


@pytest.mark.parametrize("failure", ["down", "garbage"])
def test_an_unreachable_issuer_means_no_key_not_a_crash(failure: str) -> None:
    issuer, clock = FakeIssuer(), Clock()
    if failure == "down":
        issuer.down = True
    else:
        issuer.keys = [{"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}]
    keys = key_set(issuer, clock, jwks_uri=f"{ISSUER}/keys")
    assert run(keys.get_key("broken")) is None
