"""The LOCAL runtime's stand-in for API Gateway's HTTP API JWT authorizer.

It checks what the authorizer checks, in the same way (see BRIEF: "Facts about AWS"):
`Authorization: Bearer <t>` or the bare token; RSA signatures only, the key chosen by `kid`
from the issuer's JWKS; `iss` equal to the configured issuer; `aud` one of the audiences or,
only where `aud` is absent, `client_id`; `exp` in the future, `nbf` and `iat` in the past;
and for a route with scopes, at least one of them in the token's `scope` or `scp`. Its answer
is the `requestContext.authorizer.jwt` the gateway would build, claims rendered to strings as
the gateway renders them (`claims.flatten_claims`: Go-style, nulls left out).

A client sends the same token with every request until it expires, and verifying it costs
~120 µs (PyJWT, RS256): a token that passed is remembered by its exact text, signature
included, so only a byte-identical token is ever answered from memory. Of the checks only
`exp` can change its verdict with time (`nbf` and `iat` were already in the past), and it is
checked again on every use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from service.core.access.claims import JwtContext, bearer_token, flatten_claims, is_json_text, scopes_from_claims
from service.core.errors import GatewayRejection
from service.core.http import SharedHttpClient
from service.core.identity.base import IdentityProvider
from service.core.settings import IdentityProviderName, Runtime, Settings

logger = logging.getLogger("service.local_authorizer")

RSA_ALGORITHMS = ("RS256", "RS384", "RS512")
# Clock skew tolerated on exp, nbf and iat.
LEEWAY_SECONDS = 30
# How many verified tokens are remembered (the oldest is forgotten first).
VERIFIED_TOKENS_KEPT = 256


class KeySource(Protocol):
    async def get_key(self, kid: str) -> jwt.PyJWK | None: ...


@dataclass(frozen=True)
class _VerifiedToken:
    expires_at: float
    flattened_claims: dict[str, str]
    scopes: list[str]


class LocalAuthorizer:
    def __init__(
        self,
        *,
        issuer: str,
        audiences: Sequence[str],
        keys: KeySource,
        accept_unsigned: bool = False,
        clock: Callable[[], float] = time.time,
        render: Callable[[dict[str, Any]], dict[str, str]] = flatten_claims,
    ) -> None:
        self.issuer = issuer
        self.audiences = frozenset(audiences)
        self.keys = keys
        # Only for the Firebase Auth emulator, whose tokens carry no signature.
        self.accept_unsigned = accept_unsigned
        self._clock = clock
        # How verified claims become the authorizer's strings: the service's `flatten_claims`,
        # or (the sandbox's gateway, which shares no rendering with the function) its own.
        self._render = render
        self._verified: dict[str, _VerifiedToken] = {}

    async def authorize(self, authorization: str | None, route_scopes: Sequence[str]) -> JwtContext:
        token = bearer_token(authorization)
        if token is None:
            raise GatewayRejection.unauthorized("no token")
        verified = self._verified.get(token)
        if verified is None:
            verified = await self._verify(token)
        elif verified.expires_at <= self._clock() - LEEWAY_SECONDS:
            # PyJWT's own test, and the only verdict a second verification could change.
            del self._verified[token]
            raise GatewayRejection.unauthorized("the token has expired")
        if route_scopes and not set(route_scopes).intersection(verified.scopes):
            raise GatewayRejection.forbidden(route_scopes)
        # The gateway passes the token's whole scope list only on routes that ask for scopes, and
        # null on the others (floci-io/floci PR 2011, matched to measured HTTP APIs).
        return JwtContext(
            claims=dict(verified.flattened_claims), scopes=list(verified.scopes) if route_scopes else None
        )

    async def _verify(self, token: str) -> _VerifiedToken:
        claims = await self.verify_bearer_token(token)
        verified = _VerifiedToken(
            expires_at=_expiry(claims), flattened_claims=self._render(claims), scopes=scopes_from_claims(claims)
        )
        if verified.expires_at > 0:
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = verified
        return verified

    async def verify_bearer_token(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise GatewayRejection.unauthorized("the token is not a valid JWT") from None
        algorithm = header.get("alg")
        if algorithm == "none" and self.accept_unsigned:
            claims = self._decode(token, key=None, algorithm=None)
        else:
            if algorithm not in RSA_ALGORITHMS:
                raise GatewayRejection.unauthorized("the token is not signed with an RSA algorithm")
            kid = header.get("kid")
            key = await self.keys.get_key(kid) if isinstance(kid, str) else None
            if key is None:
                raise GatewayRejection.unauthorized("no key in the issuer's key set matches the token's kid")
            claims = self._decode(token, key=key, algorithm=algorithm)
        if not is_json_text(claims):
            # NaN, a number out of range or a lone surrogate: not JSON the gateway's decoder reads as such.
            raise GatewayRejection.unauthorized("the token's claims are not valid JSON")
        self._check_audience(claims)
        return claims

    def _decode(self, token: str, *, key: jwt.PyJWK | None, algorithm: str | None) -> dict[str, Any]:
        verify_signature = key is not None
        options: dict[str, Any] = {
            "verify_signature": verify_signature,
            "verify_exp": True,
            "verify_nbf": True,
            "verify_iat": True,
            "verify_iss": True,
            # Audience follows the authorizer's own rule, checked below.
            "verify_aud": False,
            "require": ["exp", "iss"],
        }
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key if key is not None else "",
                algorithms=[algorithm] if algorithm else None,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise GatewayRejection.unauthorized("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise GatewayRejection.unauthorized("the token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise GatewayRejection.unauthorized("the token's issuer is not accepted") from None
        except jwt.PyJWTError:
            raise GatewayRejection.unauthorized("the token could not be verified") from None
        return claims

    def _check_audience(self, claims: dict[str, Any]) -> None:
        if "aud" in claims:
            aud = claims["aud"]
            offered = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
        else:
            client_id = claims.get("client_id")
            offered = {client_id} if isinstance(client_id, str) else set()
        if not offered & self.audiences:
            raise GatewayRejection.unauthorized("the token's audience is not accepted")


def _expiry(claims: dict[str, Any]) -> float:
    """`exp` as a number; 0 (never remembered) where it is not one, which verification already refused."""
    try:
        return float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        return 0.0


def build_local_authorizer(settings: Settings, identity: IdentityProvider, http: SharedHttpClient) -> LocalAuthorizer:
    keys: KeySource
    if settings.provider is IdentityProviderName.LOCAL and settings.jwt_issuer_jwks_uri is None:
        from service.core.identity.local import LocalIssuer

        assert isinstance(identity, LocalIssuer)
        keys = identity
    else:
        from service.core.access.jwks import RemoteKeySet

        keys = RemoteKeySet(
            issuer=settings.issuer,
            jwks_uri=settings.jwt_issuer_jwks_uri,
            http=http,
            refresh_interval_seconds=settings.jwks_refresh_interval_seconds,
        )
    accept_unsigned = (
        settings.runtime is Runtime.LOCAL
        and settings.provider is IdentityProviderName.FIREBASE
        and bool(settings.firebase_auth_emulator_host)
    )
    return LocalAuthorizer(
        issuer=settings.issuer,
        audiences=settings.jwt_audience,
        keys=keys,
        accept_unsigned=accept_unsigned,
    )
