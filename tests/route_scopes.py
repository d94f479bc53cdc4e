"""The overrides the route_scopes tests deploy, on routes the app itself serves (tests/declared.py).

A route that asks for a scope (else another protected route: the admin listing's group-only
one, say) gets a scope only the deployment's context declares (`known_scopes`), the way an
operator tightens a route; a token-only route gets a declared scope. They are the app's own
routes, not the throwaways of tests/declared.py: the CLI's synth, the sandbox and `make dev`
run the app in another process, where no test can add a route. Where the app declares no scope,
the token-only route's is the throwaway scope, which the context then declares (`known_scopes`).
"""

from __future__ import annotations

import json

from service.core.access.declaration import RouteAccess
from service.core.access.route_scopes import route_key
from tests.declared import SCOPE, SCOPED_ROUTES, TOKEN_ONLY_ROUTES, a_declared_scope, declared_routes

# The app's own routes, read before any test adds a throwaway one.
APP_ROUTES = declared_routes()
# A scope only the deployment's context declares (`known_scopes`).
STRONGER_SCOPE = "route-scopes-test:write"


def tightened_route() -> RouteAccess:
    """The route the overrides give `STRONGER_SCOPE`: the app's scoped GET route, else another protected GET one."""
    token_only = token_only_route()
    others = [r for r in APP_ROUTES if r.method == "GET" and not r.public and r != token_only and "{" not in r.path]
    routes = SCOPED_ROUTES or others
    assert routes, "the app serves no protected route but its token-only one: the route_scopes tests need two"
    return routes[0]


def token_only_route() -> RouteAccess:
    """The route the overrides give a declared scope: the app's token-only GET route (every app has whoami's kind)."""
    assert TOKEN_ONLY_ROUTES, (
        "the app serves no GET route that any valid token may call: the route_scopes tests need one"
    )
    return TOKEN_ONLY_ROUTES[0]


def route_scopes_overrides() -> dict[str, list[str]]:
    tightened, token_only = tightened_route(), token_only_route()
    return {
        route_key(tightened.method, tightened.path): [STRONGER_SCOPE],
        route_key(token_only.method, token_only.path): [a_declared_scope()],
    }


def known_scopes() -> dict[str, str]:
    """What the context declares: the stronger scope, and the throwaway scope where the app declares none."""
    known = {STRONGER_SCOPE: "Change what the route changes (granted to operators only)"}
    if SCOPE is None:
        known[a_declared_scope()] = "The scope a test gives a token-only route where the app declares none"
    return known


def route_scopes_context() -> dict[str, str]:
    """The two context keys as `-c` gives them (JSON text)."""
    return {"route_scopes": json.dumps(route_scopes_overrides()), "known_scopes": json.dumps(known_scopes())}
