"""The overrides the route_scopes tests deploy, on routes taken from the app's declarations (tests/declared.py).

A scoped route gets a scope only the deployment's context declares (`known_scopes`), the way
an operator tightens a route; a token-only route gets a declared scope. A team that deletes
the demo's routes keeps these tests, or has them skipped saying which route is missing.
"""

from __future__ import annotations

import json

from service.core.access.route_scopes import route_key
from tests.declared import a_scope, scoped_route, token_only_route

# A scope only the deployment's context declares (`known_scopes`).
STRONGER_SCOPE = "route-scopes-test:write"


def route_scopes_overrides() -> dict[str, list[str]]:
    scoped, token_only = scoped_route(), token_only_route()
    return {
        route_key(scoped.method, scoped.path): [STRONGER_SCOPE],
        route_key(token_only.method, token_only.path): [a_scope()],
    }


def route_scopes_context() -> dict[str, str]:
    """The two context keys as `-c` gives them (JSON text)."""
    return {
        "route_scopes": json.dumps(route_scopes_overrides()),
        "known_scopes": json.dumps({STRONGER_SCOPE: "Change what the route changes (granted to operators only)"}),
    }
