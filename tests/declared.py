"""The app's own declarations, for tests of a mechanism on whatever routes, scopes and groups the app has.

A team adds routes with its own scopes and groups and deletes the demo's (docs/recipes.md). A
test that needs "a route that asks for a scope" or "a declared scope" takes one from here
instead of naming the demo's, and mints its own callers from the route's declaration
(`caller_of`): any scope, any group, whatever the demo users happen to hold. Where the app
declares no such route, `scoped_route()` is a throwaway one (`THROWAWAY_ROUTE`) that the
`scoped` fixture (tests/conftest.py) adds to the app for the test, and where it declares no scope
at all the `declared_scope` fixture declares the throwaway's for the test: no test skips because
of the app's content (`tests/test_recipes.py` asserts it on changed copies).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from fastapi import APIRouter, FastAPI

from service.api.main import include_api
from service.core.access.declaration import KNOWN_SCOPES, Authenticated, RouteAccess, describe_routes
from service.core.identity.local import LocalUser


def declared_routes() -> list[RouteAccess]:
    """Every operation of the app's API, as `describe_routes` reads the routes' declarations."""
    app = FastAPI()
    include_api(app)
    return describe_routes(app)


def _scoped_get(route: RouteAccess) -> bool:
    return route.method == "GET" and bool(route.scopes) and "{" not in route.path


SCOPED_ROUTES = [route for route in declared_routes() if _scoped_get(route)]
# Every group some route asks for: a caller holding them all passes every route's group check.
DECLARED_GROUPS: tuple[str, ...] = tuple(sorted({group for route in declared_routes() for group in route.groups}))
# A declared scope, for throwaway routes a test declares itself; None when the app declares none.
SCOPE: str | None = next(iter(KNOWN_SCOPES), None)
# The demo admin's groups (service/core/identity/local.py), for tests that sign in as the demo admin.
DEMO_ADMIN_GROUPS = frozenset({"ADMINS", "USERS"})
# A name no route declares and no user has.
UNDECLARED_SCOPE = "undeclared:scope"
# A group no route asks for.
UNDECLARED_GROUP = "NOT-A-DECLARED-GROUP"

# The route a test declares where the app has no scoped GET route: its own scope and group, so
# it needs what no demo user holds, as a team's route may.
THROWAWAY_SCOPE = "throwaway:read"
THROWAWAY_ROUTE = RouteAccess(
    method="GET",
    path="/v1/throwaway-scoped",
    name="throwaway_scoped",
    public=False,
    scopes=(THROWAWAY_SCOPE,),
    groups=("THROWAWAY",),
)


def a_scoped_route() -> RouteAccess:
    """A GET route without path parameters that asks for a scope: the app's first, else `THROWAWAY_ROUTE`.

    The throwaway is served only where the `scoped` fixture added it to the app (in-process
    apps) or `with_throwaway_route` to a template (the sandbox's gateway).
    """
    return SCOPED_ROUTES[0] if SCOPED_ROUTES else THROWAWAY_ROUTE


def scoped_route() -> RouteAccess:
    """The app's first scoped GET route without path parameters, whatever groups it asks for; skips where none.

    For tests that need the app itself to serve it (a synthesized template with it): prefer
    `a_scoped_route()` with the `scoped` fixture or `with_throwaway_route`, which never skip.
    """
    if not SCOPED_ROUTES:
        pytest.skip("the app declares no GET route, without path parameters, that asks for a scope")
    return SCOPED_ROUTES[0]


def app_declares_a_scoped_route() -> bool:
    return bool(SCOPED_ROUTES)


def throwaway_router() -> APIRouter:
    """`THROWAWAY_ROUTE` as a router (its scope must be in KNOWN_SCOPES first: the `scoped` fixture sees to it)."""
    router = APIRouter()
    required = Authenticated(scopes=list(THROWAWAY_ROUTE.scopes), groups=list(THROWAWAY_ROUTE.groups))

    # In the decorator: an annotation could not name the local `required` (postponed annotations here).
    @router.get(THROWAWAY_ROUTE.path.removeprefix("/v1"), name=THROWAWAY_ROUTE.name, dependencies=[required])
    async def throwaway_scoped() -> dict[str, str]:
        return {"status": "ok"}

    return router


# The password of every user `caller_of` makes, for a users file (`users_file`).
CALLER_PASSWORD = "caller-password"


@functools.cache
def _caller_hash() -> str:
    # bcrypt's lowest cost: these users exist for one test session.
    return bcrypt.hashpw(CALLER_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


def caller_of(
    route: RouteAccess,
    *,
    username: str = "caller@example.com",
    scopes: tuple[str, ...] | None = None,
    groups: tuple[str, ...] | None = None,
) -> LocalUser:
    """A user the route lets in: its scopes and one of its groups (or `scopes`/`groups` instead: a caller it refuses).

    Its password is `CALLER_PASSWORD`: put it in a users file (`users_file`) for the embedded or
    the sandbox's offline issuer, or issue its tokens directly (`LocalIssuer.issue_tokens`).
    """
    return LocalUser(
        username=username,
        password_hash=_caller_hash(),
        scopes=list(route.scopes if scopes is None else scopes),
        groups=list(route.groups[:1] if groups is None else groups),
    )


def users_file(path: Path, *users: LocalUser) -> Path:
    """A users file (`LOCAL_USERS_FILE`, `make dev USERS_FILE=...`, `make sandbox USERS_FILE=...`) holding `users`."""
    path.write_text(json.dumps({"users": [user.model_dump(exclude_defaults=True) for user in users]}, indent=1))
    return path


def with_throwaway_route(template: dict[str, Any]) -> None:
    """Add `THROWAWAY_ROUTE` to a synthesized template, as the construct derives a scoped route (for the gateway).

    The function does not serve it: the gateway's verdict is what such a test looks at.
    """
    resources = template["Resources"]
    name, protected = next(
        (name, resource)
        for name, resource in resources.items()
        if resource["Type"] == "AWS::ApiGatewayV2::Route" and resource["Properties"].get("AuthorizationType") == "JWT"
    )
    properties = {
        **protected["Properties"],
        "RouteKey": f"{THROWAWAY_ROUTE.method} {THROWAWAY_ROUTE.path}",
        "AuthorizationScopes": list(THROWAWAY_ROUTE.scopes),
    }
    resources[name + "Throwaway"] = {**protected, "Properties": properties}


def a_scope() -> str:
    """A scope the app declares (KNOWN_SCOPES); at a module's top, skips the module when there is none.

    Prefer the `declared_scope` fixture (tests/conftest.py), which declares a throwaway scope instead.
    """
    if SCOPE is None:
        pytest.skip("the app declares no scope (KNOWN_SCOPES is empty)", allow_module_level=True)
    return SCOPE


# Route keys as API Gateway writes them, for the context key `route_scopes` (issue 29).
def token_only_route() -> RouteAccess:
    """A GET route without path parameters that takes any valid token (no scope) and that the demo admin may call."""
    routes = [
        route
        for route in declared_routes()
        if route.method == "GET" and not route.public and not route.scopes and "{" not in route.path
        if not route.groups or DEMO_ADMIN_GROUPS & set(route.groups)
    ]
    if not routes:
        pytest.skip("the app declares no GET route, without path parameters, that takes any valid token")
    return routes[0]


def public_route() -> RouteAccess:
    """A route the app serves without a token."""
    routes = [route for route in declared_routes() if route.public]
    if not routes:
        pytest.skip("the app declares no public route")
    return routes[0]
