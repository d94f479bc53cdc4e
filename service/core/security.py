"""Who is calling: the claims the gateway vouched for, the same way in both runtimes.

- ``RUNTIME=LAMBDA``: the HTTP API JWT authorizer verified the token; its verdict is in the
  event at ``requestContext.authorizer.jwt``. No such context on a protected route is a 401:
  the route was reached without the authorizer, and we fail closed.
- ``RUNTIME=LOCAL``: nothing stands in front of the app, so `LocalGateway` verifies the
  token exactly as the authorizer would and produces the same context, claims flattened to
  strings as the gateway renders them.
From there one code path undoes the flattening, checks the route's scopes again and hands
the route a `Principal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from fastapi import Request

from service.core.claims import groups_from_claim, unflatten_claims
from service.core.errors import GatewayRejection
from service.core.settings import Runtime, Settings

if TYPE_CHECKING:
    from service.core.local_gateway import LocalGateway

TOKEN_PATH = "/v1/auth/token"  # noqa: S105 - a URL path, not a secret
# The password flow's name in the OpenAPI document (FastAPI's default for OAuth2PasswordBearer).
SECURITY_SCHEME_NAME = "OAuth2PasswordBearer"

# Scopes the service's routes may ask for; Swagger UI offers them in its Authorize dialog.
KNOWN_SCOPES: dict[str, str] = {
    "items:read": "Read the demonstration items",
}


class JwtContext(TypedDict):
    """``requestContext.authorizer.jwt`` of an HTTP API payload 2.0 event."""

    claims: dict[str, str]
    scopes: list[str] | None


@dataclass(frozen=True)
class Principal:
    """The caller, as every route sees it."""

    claims: dict[str, Any]
    scopes: tuple[str, ...] = ()
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def subject(self) -> str | None:
        sub = self.claims.get("sub")
        return str(sub) if sub is not None else None


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def jwt_context_from_event(event: Any) -> JwtContext | None:
    """The authorizer's verdict from a Lambda event, or None where there is none."""
    if not isinstance(event, dict):
        return None
    request_context = event.get("requestContext")
    authorizer = request_context.get("authorizer") if isinstance(request_context, dict) else None
    jwt = authorizer.get("jwt") if isinstance(authorizer, dict) else None
    if not isinstance(jwt, dict) or not isinstance(jwt.get("claims"), dict) or not jwt["claims"]:
        return None
    scopes = jwt.get("scopes")
    # Read, never changed: the claims are undone into a new dict by `principal_from_jwt_context`.
    return JwtContext(claims=jwt["claims"], scopes=[str(s) for s in scopes] if isinstance(scopes, list) else None)


def principal_from_jwt_context(context: JwtContext, *, required_scopes: list[str], groups_claim: str) -> Principal:
    """The common path: undo the flattening, re-check scopes, read groups."""
    token_scopes = context["scopes"] or []
    if required_scopes and not set(required_scopes).intersection(token_scopes):
        raise GatewayRejection.forbidden(required_scopes)
    claims = unflatten_claims(context["claims"])
    return Principal(claims=claims, scopes=tuple(token_scopes), groups=groups_from_claim(claims.get(groups_claim)))


def local_gateway(request: Request) -> LocalGateway:
    """The LOCAL runtime's stand-in for the JWT authorizer, built on first use."""
    gateway: LocalGateway | None = getattr(request.app.state, "local_gateway", None)
    if gateway is None:
        from service.core.identity import identity_provider
        from service.core.local_gateway import build_local_gateway

        gateway = build_local_gateway(
            request.app.state.settings, identity_provider(request.app), request.app.state.http
        )
        request.app.state.local_gateway = gateway
    return gateway


async def authenticate_caller(request: Request, required_scopes: Sequence[str]) -> Principal:
    """The gateway's step for a protected route, then the shared re-check."""
    settings = get_settings(request)
    context: JwtContext | None
    if settings.runtime is Runtime.LOCAL:
        gateway = local_gateway(request)
        context = await gateway.authorize(request.headers.get("authorization"), required_scopes)
    else:
        context = jwt_context_from_event(request.scope.get("aws.event"))
        if context is None:
            raise GatewayRejection.unauthorized("no authorizer context for a protected route")
    return principal_from_jwt_context(
        context,
        required_scopes=list(required_scopes),
        groups_claim=settings.jwt_authorization_groups_attr_name,
    )
