"""Who is calling: the claims the gateway vouched for, the same way in both runtimes.

- ``RUNTIME=LAMBDA``: the HTTP API JWT authorizer verified the token; its verdict is in the
  event at ``requestContext.authorizer.jwt``. No such context on a protected route is a 401:
  the route was reached without the authorizer, and we fail closed.
- ``RUNTIME=LOCAL``: nothing stands in front of the app, so `LocalAuthorizer` verifies the
  token exactly as the authorizer would and produces the same context, claims flattened to
  strings as the gateway renders them.
From there one code path checks the route's scopes again, reads the exact claims from the
token in the header the authorizer reads (its identity source, `JWT_IDENTITY_SOURCE`),
accepted only where they render to the authorizer's (`claims.verified_token_claims`: the
rendering cannot tell ``["Not ADMINS"]`` from ``["Not", "ADMINS"]``), and hands the route a
`Principal`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from service.core.access.claims import JwtContext, groups_from_claim, jwt_context_from_event, verified_token_claims
from service.core.errors import GatewayRejection
from service.core.request_log import CALLER_SUB
from service.core.settings import Runtime, get_settings

if TYPE_CHECKING:
    from service.core.access.local_authorizer import LocalAuthorizer


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


def principal_from_jwt_context(
    context: JwtContext, *, token_header: str | None, required_scopes: Sequence[str], groups_claim: str
) -> Principal:
    """The common path: re-check scopes, take the verified token's exact claims, read groups."""
    token_scopes = context["scopes"] or []
    if required_scopes and not set(required_scopes).intersection(token_scopes):
        raise GatewayRejection.forbidden(required_scopes)
    claims = verified_token_claims(token_header, context["claims"], groups_claim=groups_claim)
    return Principal(claims=claims, scopes=tuple(token_scopes), groups=groups_from_claim(claims.get(groups_claim)))


def local_authorizer(request: Request) -> LocalAuthorizer:
    """The LOCAL runtime's stand-in for the JWT authorizer, built on first use."""
    authorizer: LocalAuthorizer | None = getattr(request.app.state, "local_authorizer", None)
    if authorizer is None:
        from service.core.access.local_authorizer import build_local_authorizer
        from service.core.identity import identity_provider

        authorizer = build_local_authorizer(
            request.app.state.settings, identity_provider(request.app), request.app.state.http
        )
        request.app.state.local_authorizer = authorizer
    return authorizer


async def authenticate_caller(request: Request, required_scopes: Sequence[str]) -> Principal:
    """The gateway's step for a protected route, then the shared re-check."""
    settings = get_settings(request)
    token_header = request.headers.get(settings.identity_header)
    context: JwtContext | None
    if settings.runtime is Runtime.LOCAL:
        if len(request.headers.getlist(settings.identity_header)) > 1:
            # Payload 2.0 joins repeated headers with commas, and what the authorizer makes of that
            # is not documented (docs/aws-facts.md, row "Repeated Authorization header"): refused,
            # as the sandbox's gateway refuses it, rather than reading the first.
            raise GatewayRejection.unauthorized("the identity source's header is repeated")
        context = await local_authorizer(request).authorize(token_header, required_scopes)
    else:
        context = jwt_context_from_event(request.scope.get("aws.event"))
        if context is None:
            raise GatewayRejection.unauthorized("no authorizer context for a protected route")
    # The verified caller's subject for the request's log line (never any other claim).
    request.scope[CALLER_SUB] = context["claims"].get("sub")
    return principal_from_jwt_context(
        context,
        token_header=token_header,
        required_scopes=required_scopes,
        groups_claim=settings.jwt_authorization_groups_attr_name,
    )
