"""An issuer's signing keys, fetched once and cached, as API Gateway's authorizer keeps them.

The key set comes from `JWT_ISSUER_JWKS_URI` or, by default, from the `jwks_uri` of the
issuer's OpenID discovery document. A token whose `kid` is not in the cache triggers a fresh
fetch (the issuer may have rotated keys), but at most once per refresh interval, so a
stream of made-up `kid`s cannot turn the app into a load generator against the issuer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import jwt

from service.core.http import SharedHttpClient

logger = logging.getLogger("service.jwks")


class RemoteKeySet:
    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str | None,
        http: SharedHttpClient,
        refresh_interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer.rstrip("/")
        self._jwks_uri = jwks_uri
        self._http = http
        self._interval = refresh_interval_seconds
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        if kid not in self._keys and self._may_refresh():
            async with self._lock:
                # Another request may have refreshed while this one waited.
                if kid not in self._keys and self._may_refresh():
                    await self._refresh()
        return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        return self._last_attempt is None or self._clock() - self._last_attempt >= self._interval

    async def _refresh(self) -> None:
        self._last_attempt = self._clock()
        self.fetch_count += 1
        try:
            document = await self._get_json(await self._resolve_jwks_uri())
            self._keys = _usable_keys(document)
        except Exception as exc:  # noqa: BLE001 - an unreachable issuer means "no key", i.e. 401
            logger.warning("could not fetch the issuer's key set", extra={"error_type": type(exc).__name__})

    async def _resolve_jwks_uri(self) -> str:
        if self._jwks_uri is None:
            discovery = await self._get_json(f"{self._issuer}/.well-known/openid-configuration")
            uri = discovery.get("jwks_uri")
            if not isinstance(uri, str):
                raise ValueError("discovery document has no jwks_uri")
            self._jwks_uri = uri
        return self._jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get().get(url)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        return body


def _usable_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or entry.get("kty") != "RSA":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=entry.get("alg", "RS256"))
        except jwt.PyJWTError:
            continue
    return keys
