"""A route's access, declared once, next to the route.

    @router.get("/endpoints")
    async def list_endpoints(caller: Annotated[Principal, Authenticated(groups=["ADMINS"])]): ...

`Authenticated(scopes=..., groups=...)` is FastAPI's `Security(...)` with the scopes, so the
OpenAPI document carries the scopes; the CDK construct reads that document to give the
gateway route its JWT authorizer and `authorization_scopes`, and `describe_routes` reads the
same declaration for the admin listing. A route without it is public.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from service.core.errors import AppError
from service.core.security import KNOWN_SCOPES, Principal, authenticate_caller

# API Gateway accepts at most this many authorization scopes on a route.
MAX_ROUTE_SCOPES = 10


class RequireAccess:
    """Dependency behind `Authenticated`: the caller holds one of the route's groups."""

    def __init__(self, *, scopes: Sequence[str], groups: Sequence[str]) -> None:
        unknown = set(scopes) - KNOWN_SCOPES.keys()
        if unknown:
            raise ValueError(f"undeclared scopes {sorted(unknown)}: add them to KNOWN_SCOPES")
        if len(scopes) > MAX_ROUTE_SCOPES:
            raise ValueError(f"API Gateway allows at most {MAX_ROUTE_SCOPES} scopes on a route")
        self.scopes = tuple(scopes)
        self.groups = tuple(groups)

    async def __call__(self, caller: Annotated[Principal, Security(authenticate_caller)]) -> Principal:
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
    # FastAPI keeps included routers lazily; `iter_route_contexts` yields each route with
    # its effective path and dependencies (router-level ones included).
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
