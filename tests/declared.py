"""The app's own declarations, for tests of a mechanism on whatever routes and scopes the app has.

A team adds routes and deletes the demo's (docs/recipes.md). A test that needs "a route that
asks for a scope" or "a declared scope" takes one from here instead of naming the demo's, so
the suite stays green through those changes; where the app has none, the test is skipped
saying so.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from service.api.main import include_api
from service.core.access.declaration import KNOWN_SCOPES, RouteAccess, describe_routes

# The demo admin's groups (service/core/identity/local.py): a route open to one of them, or to
# any caller, is one the demo admin can call with the route's scope.
DEMO_ADMIN_GROUPS = frozenset({"ADMINS", "USERS"})


def declared_routes() -> list[RouteAccess]:
    """Every operation of the app's API, as `describe_routes` reads the routes' declarations."""
    app = FastAPI()
    include_api(app)
    return describe_routes(app)


def _callable_scoped(route: RouteAccess) -> bool:
    return (
        route.method == "GET"
        and bool(route.scopes)
        and "{" not in route.path
        and (not route.groups or bool(DEMO_ADMIN_GROUPS & set(route.groups)))
    )


SCOPED_ROUTES = [route for route in declared_routes() if _callable_scoped(route)]
# A declared scope, for throwaway routes a test declares itself; None when the app declares none.
SCOPE: str | None = next(iter(KNOWN_SCOPES), None)
# A name no route declares and no user has.
UNDECLARED_SCOPE = "undeclared:scope"


def scoped_route() -> RouteAccess:
    """A GET route without path parameters that asks for a scope and that the demo admin may call."""
    if not SCOPED_ROUTES:
        pytest.skip("the app declares no GET route, without path parameters, that asks for a scope")
    return SCOPED_ROUTES[0]


def a_scope() -> str:
    """A scope the app declares (KNOWN_SCOPES); at a module's top, skips the module when there is none."""
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
