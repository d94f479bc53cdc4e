"""A route's access, declared once, next to the route.

    @router.get("/endpoints")
    async def list_endpoints(caller: Annotated[Principal, Authenticated(groups=["ADMINS"])]): ...

`Authenticated(scopes=..., groups=...)` is FastAPI's `Security(...)` with the scopes, so
FastAPI writes the scopes into the operation's OpenAPI `security`; the CDK construct reads
that to give the gateway route its JWT authorizer and `authorization_scopes`, and
`describe_routes` reads the same declaration for the admin listing. A route without it is
public.

The requirement is itself the OAuth2 password scheme of the OpenAPI document (one scheme
name for every route), so Swagger UI's Authorize button runs the password flow, and FastAPI
solves it like any other dependency.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from service.core.access.caller import Principal, authenticate_caller
from service.core.errors import AppError

# Re-exported: stated once, in the settings, which check ROUTE_SCOPES against it too.
from service.core.settings import MAX_ROUTE_SCOPES as MAX_ROUTE_SCOPES  # noqa: PLC0414

TOKEN_PATH = "/v1/auth/token"  # noqa: S105 - a URL path, not a secret
# The password flow's name in the OpenAPI document (FastAPI's default for OAuth2PasswordBearer).
SECURITY_SCHEME_NAME = "OAuth2PasswordBearer"

# Every scope the service's routes may ask for, with what it grants: the one place a scope is
# declared. Swagger UI offers them in its Authorize dialog, and `make dev`'s demo admin is
# granted each (docs/recipes.md, "Add a route").
KNOWN_SCOPES: dict[str, str] = {
    # The demo's (routes/items.py): docs/recipes.md, "Remove a demo route", takes it out.
    "items:read": "Read the demonstration items",
    # Yours: "resource:action": "what it grants",
}


# Where `install_route_scopes` (route_scopes.py) leaves a deployment's overrides on the app:
# {(id(route), method): scopes}, read at each request of a protected route.
ROUTE_SCOPES_STATE = "scopes_by_route"

# This file, as the repository names it, for the message that sends a developer here.
REGISTRY_FILE = "/".join(Path(__file__).parts[-4:])


class RequireAccess(OAuth2PasswordBearer):
    """Dependency behind `Authenticated`: the gateway's step, then one of the route's groups."""

    def __init__(self, *, scopes: Sequence[str], groups: Sequence[str]) -> None:
        unknown = set(scopes) - KNOWN_SCOPES.keys()
        if unknown:
            raise ValueError(
                f"undeclared scopes {sorted(unknown)}: add each, with what it grants, "
                f"to KNOWN_SCOPES in {REGISTRY_FILE}"
            )
        if len(scopes) > MAX_ROUTE_SCOPES:
            raise ValueError(
                f"{len(scopes)} scopes on one route, over API Gateway's limit of {MAX_ROUTE_SCOPES} scopes per "
                f"route (HTTP API quotas); fix: declare at most {MAX_ROUTE_SCOPES} (a token needs only one of them)"
            )
        # The token itself is read by the gateway step, which, like API Gateway, also accepts a bare token.
        super().__init__(tokenUrl=TOKEN_PATH, scopes=KNOWN_SCOPES, scheme_name=SECURITY_SCHEME_NAME, auto_error=False)
        self.scopes = tuple(scopes)
        self.groups = tuple(groups)

    async def __call__(  # type: ignore[override]
        self, request: Request, security_scopes: SecurityScopes
    ) -> Principal:
        # `security_scopes` holds every scope declared along the way (a router's requirement
        # beside the route's own), as FastAPI writes them into the operation's `security`;
        # a deployment's override for the matched route (ROUTE_SCOPES) replaces them all.
        overrides: dict[tuple[int, str], tuple[str, ...]] = getattr(request.app.state, ROUTE_SCOPES_STATE, {})
        required: Sequence[str] = security_scopes.scopes
        if overrides:
            required = overrides.get((id(request.scope.get("route")), request.method), required)
        caller = await authenticate_caller(request, required)
        if self.groups and caller.groups.isdisjoint(self.groups):
            raise AppError(
                f"This operation requires membership in one of: {', '.join(self.groups)}.",
                status_code=403,
                code="missing_group",
            )
        return caller


def Authenticated(*, scopes: Sequence[str] = (), groups: Sequence[str] = ()) -> Any:  # noqa: N802 - reads like Depends
    """Any valid token; with `scopes`, one of them (the gateway's rule); with `groups`, one of them."""
    return Security(RequireAccess(scopes=scopes, groups=groups), scopes=list(scopes))


@dataclass(frozen=True)
class RouteAccess:
    method: str
    path: str
    name: str
    public: bool
    scopes: tuple[str, ...]
    groups: tuple[str, ...]


def _requirements(dependant: Dependant) -> Iterator[RequireAccess]:
    if isinstance(dependant.call, RequireAccess):
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _requirements(sub)


def describe_routes(app: FastAPI) -> list[RouteAccess]:
    """Every operation the app serves, with the access its route declares."""
    described = []
    # `iter_route_contexts` yields each route of the app and of its included routers with its
    # effective path and dependencies (a router's own included), as FastAPI's OpenAPI sees it.
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        requirements = list(_requirements(route.dependant))
        scopes = tuple(dict.fromkeys(s for r in requirements for s in r.scopes))
        groups = tuple(dict.fromkeys(g for r in requirements for g in r.groups))
        for method in sorted((route.methods or set()) - {"HEAD"}):
            described.append(
                RouteAccess(
                    method=method,
                    path=str(route.path),
                    name=str(route.name),
                    public=not requirements,
                    scopes=scopes,
                    groups=groups,
                )
            )
    return described
