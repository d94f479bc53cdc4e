"""The embedded development issuer (`IDENTITY_PROVIDER=local`, never active in Lambda).

It behaves like a real OAuth2 server from the outside: RS256 access tokens signed with a key
it generates once and keeps in a git-ignored file (so tokens survive restarts), a JWKS the
app serves, a password grant for known users and a refresh grant. Refresh tokens are JWTs
too, but for a separate audience, so one can never pass as an access token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import bcrypt
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, Field

from service.core.identity.base import InvalidCredentials, InvalidRefreshToken, InvalidScope, TokenGrant, UserDisabled
from service.core.settings import Settings


class LocalUser(BaseModel):
    username: str
    password_hash: str = Field(description="bcrypt hash: python -m service.core.identity.hash_password")
    groups: list[str] = Field(default_factory=list)
    scopes: list[str] = Field(default_factory=list)
    disabled: bool = False
    subject: str | None = Field(default=None, description="the tokens' sub; the username when left out")
    claims: dict[str, Any] = Field(
        default_factory=dict,
        description="more claims for the access token, such as a Firebase ID token's firebase, user_id, auth_time "
        "and email_verified; the issuer's own (iss, sub, aud, iat, nbf, exp, jti, scope, the groups claim) win",
    )


class LocalUsersFile(BaseModel):
    users: list[LocalUser]


# Demo users from the README; the hashes are of "admin-password" and "user-password". The
# admin's scopes are every scope the app declares, given when the issuer is built (`demo_users`).
DEMO_USERS = (
    LocalUser(
        username="admin@example.com",
        password_hash="$2b$10$6CI/o.XAYK1SltyZEz/6B.OT/1oeeHTTwWDtJszpuVBqdGPOnVqCq",  # noqa: S106 - public demo
        groups=["ADMINS", "USERS"],
    ),
    LocalUser(
        username="user@example.com",
        password_hash="$2b$10$gb09lDZW6tjG4wBwittnxu21yo61UgmWEDx.SrxzUnine60V7akhK",  # noqa: S106 - public demo
        groups=["USERS"],
    ),
)

# bcrypt reads at most 72 bytes of a password; bcrypt 5 refuses longer ones rather than
# silently ignoring the rest. No hash can match such a password, so it is a wrong password.
BCRYPT_MAX_PASSWORD_BYTES = 72

# The bcrypt cost `hash_password` hashes with, the demo users' and `_DUMMY_HASH`'s (about 60 ms a
# check here): an unknown user is checked against a hash of the users' own cost, so a wrong
# password costs the same time whether the account exists or not (with a cost of 12 against a
# dummy of 10, a known user's wrong password took 226 ms and an unknown user 59 ms: issue 21).
BCRYPT_ROUNDS = 10
# Checked against when the user is unknown, where the users' hashes have the cost `BCRYPT_ROUNDS`.
_DUMMY_HASH = b"$2b$10$6CI/o.XAYK1SltyZEz/6B.Oa4AqpIBgmAKBtaRLAbIkbDfxEg3p0m"

REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600


def demo_users(*, admin_scopes: Sequence[str]) -> tuple[LocalUser, ...]:
    """The demo users, the admin granted `admin_scopes` (the app's declared scopes: a new one works at once)."""
    return tuple(
        user.model_copy(update={"scopes": list(admin_scopes)}) if "ADMINS" in user.groups else user
        for user in DEMO_USERS
    )


def load_users(path: Path | None, *, demo_admin_scopes: Sequence[str] = ()) -> dict[str, LocalUser]:
    """The users file's users; without one, the demo users, the admin granted `demo_admin_scopes`."""
    if path is None:
        users: Sequence[LocalUser] = demo_users(admin_scopes=demo_admin_scopes)
    else:
        users = LocalUsersFile.model_validate_json(path.read_bytes()).users
    return {user.username: user for user in users}


def bcrypt_cost(password_hash: str) -> int:
    """The cost of a bcrypt hash (``$2b$<cost>$...``); `BCRYPT_ROUNDS` where it cannot be read."""
    parts = password_hash.split("$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else BCRYPT_ROUNDS


def dummy_hash(users: Mapping[str, LocalUser]) -> bytes:
    """A hash to check an unknown user's password against, as costly as the users' own (the costliest of them).

    A users file written with `hash_password` has one cost throughout. Another cost than
    `BCRYPT_ROUNDS` costs one hash at start-up, not one per sign-in.
    """
    cost = max((bcrypt_cost(user.password_hash) for user in users.values()), default=BCRYPT_ROUNDS)
    if cost == BCRYPT_ROUNDS:
        return _DUMMY_HASH
    return bcrypt.hashpw(secrets.token_bytes(32), bcrypt.gensalt(rounds=min(max(cost, 4), 31)))


def load_or_create_signing_key(path: Path) -> rsa.RSAPrivateKey:
    """The issuer's RSA key: read from `path`, or generated and written there once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Write then rename: two processes starting at once both end with one valid key file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.replace(tmp, path)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return loaded


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPublicKey) -> dict[str, str]:
    """The public key as a JWK, its `kid` the RFC 7638 thumbprint."""
    numbers = key.public_numbers()
    members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": "RS256"}


class LocalIssuer:
    """Identity provider and key source for the embedded issuer."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        groups_claim: str,
        signing_key: rsa.RSAPrivateKey,
        users: Mapping[str, LocalUser],
        token_ttl_seconds: int,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.groups_claim = groups_claim
        self.users = dict(users)
        self._dummy_hash = dummy_hash(self.users)
        self.token_ttl_seconds = token_ttl_seconds
        self._signing_key = signing_key
        self._jwk = public_jwk(signing_key.public_key())
        self.kid = self._jwk["kid"]
        self._verification_key = jwt.PyJWK(self._jwk)

    @classmethod
    def from_settings(cls, settings: Settings, *, declared_scopes: Sequence[str] = ()) -> LocalIssuer:
        return cls(
            issuer=settings.issuer,
            audience=settings.jwt_audience[0],
            groups_claim=settings.jwt_authorization_groups_attr_name,
            signing_key=load_or_create_signing_key(settings.local_idp_key_file),
            users=load_users(settings.local_users_file, demo_admin_scopes=declared_scopes),
            token_ttl_seconds=settings.local_token_ttl_seconds,
        )

    @property
    def refresh_audience(self) -> str:
        return f"{self.issuer}#refresh"

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self._jwk]}

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        """Key source for the local authorizer: the issuer's own key, no network round trip."""
        return self._verification_key if kid == self.kid else None

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._signing_key, algorithm="RS256", headers={"kid": self.kid})

    def issue_tokens(self, user: LocalUser, *, scope: str | None = None) -> TokenGrant:
        now = int(time.time())
        granted = user.scopes if scope is None else [s for s in scope.split() if s in user.scopes]
        access = {
            "email": user.username,
            **user.claims,
            "iss": self.issuer,
            "sub": user.subject or user.username,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_ttl_seconds,
            "jti": secrets.token_urlsafe(16),
            "scope": " ".join(granted),
            self.groups_claim: list(user.groups),
        }
        refresh = {
            "iss": self.issuer,
            "sub": user.username,
            "aud": self.refresh_audience,
            "iat": now,
            "exp": now + REFRESH_TOKEN_TTL_SECONDS,
            "jti": secrets.token_urlsafe(16),
            "scope": " ".join(granted),
        }
        return TokenGrant(
            access_token=self._sign(access),
            expires_in=self.token_ttl_seconds,
            refresh_token=self._sign(refresh),
            # RFC 6749 section 3.3: a scope is one or more names; none granted, none said.
            scope=" ".join(granted) or None,
        )

    async def password_grant(self, *, username: str, password: str, scope: str | None) -> TokenGrant:
        user = self.users.get(username)
        secret = password.encode()
        if len(secret) > BCRYPT_MAX_PASSWORD_BYTES:
            # Known or unknown user alike: what the length tells, the caller already knew.
            raise InvalidCredentials()
        hashed = user.password_hash.encode() if user else self._dummy_hash
        # bcrypt is deliberately slow: keep it off the event loop.
        matches = await anyio.to_thread.run_sync(bcrypt.checkpw, secret, hashed)
        if user is None or not matches:
            raise InvalidCredentials()
        if user.disabled:
            raise UserDisabled()
        if scope is not None and not set(scope.split()) <= set(user.scopes):
            raise InvalidScope()
        return self.issue_tokens(user, scope=scope)

    async def refresh_grant(self, *, refresh_token: str) -> TokenGrant:
        try:
            claims = jwt.decode(
                refresh_token,
                self._verification_key.key,
                algorithms=["RS256"],
                audience=self.refresh_audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError:
            raise InvalidRefreshToken() from None
        user = self.users.get(str(claims["sub"]))
        if user is None:
            raise InvalidRefreshToken()
        if user.disabled:
            raise UserDisabled()
        # Exactly the scopes granted at sign-in, never more.
        return self.issue_tokens(user, scope=str(claims.get("scope", "")))
