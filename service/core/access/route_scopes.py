"""Scopes an operator sets for one deployment (`ROUTE_SCOPES`), replacing those a route declares.

A route's access is declared in code (`Authenticated(scopes=...)`): that is the default, and
the developers' view. An operator may tighten or loosen one route's scopes for one deployment
without changing the service: the CDK context key `route_scopes` ({"GET /v1/items":
["items:write"]}) reaches the function as the one variable `ROUTE_SCOPES`, holding only the
overrides. `install_route_scopes` checks them against the routes the app serves and records
them, so that everything that shows or enforces a route's scopes uses the effective ones: the
app's own re-check (`RequireAccess`), the admin listing (`effective_routes`), the OpenAPI
document's security (and so the gateway's routes, which the construct derives from it), and
`make dev`, which reads the same context (docs/access.md, "Two models").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from service.core.access.declaration import ROUTE_SCOPES_STATE, RouteAccess, describe_routes
from service.core.settings import SettingsError

# Starlette's path converters: `{name}` or `{name:path}` and friends.
_PATH_PARAMETER = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<convertor>[a-z]+))?\}")


class RouteScopesError(SettingsError):
    """An override names no route the service serves, or a public one. `problems`: one line each, with the fix."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid settings: ROUTE_SCOPES: " + "; ".join(problems))
        self.problems = tuple(problems)


def gateway_path(path: str) -> str:
    """A Starlette path as API Gateway writes it in a route key: `{name:path}` is `{name+}`, other converters drop."""
    return _PATH_PARAMETER.sub(lambda m: "{" + m["name"] + ("+}" if m["convertor"] == "path" else "}"), path)


def route_key(method: str, path: str) -> str:
    """The route key as API Gateway writes it, e.g. `GET /v1/items`: what `route_scopes` is keyed by."""
    return f"{method.upper()} {gateway_path(path)}"


def override_problems(routes: Sequence[RouteAccess], overrides: Mapping[str, Sequence[str]]) -> list[str]:
    """One line per override the gateway and the service could not both honour, each with its fix."""
    by_key = {route_key(route.method, route.path): route for route in routes}
    problems = []
    for key in overrides:
        route = by_key.get(key)
        if route is None:
            import difflib  # only for a refusal: not part of every cold start

            close = difflib.get_close_matches(key, list(by_key), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "GET /v1/admin/endpoints lists the routes"
            problems.append(f"{key!r} is not a route the service serves; {hint}")
        elif route.public:
            problems.append(
                f"{key!r} is public in the service (no Authenticated on the route), so the service never sees a "
                "token for it and could not re-check scopes the gateway required; fix: declare "
                "Authenticated(...) on the route in the service, or remove the override"
            )
    return problems


def install_route_scopes(app: FastAPI, overrides: Mapping[str, Sequence[str]]) -> None:
    """Record the overrides on `app` for its routes to enforce and show, or RouteScopesError naming each bad one."""
    if not overrides:
        # The declarations stand. Recorded as empty all the same: a protected request looks it up, and
        # a missing attribute of the app's state costs it an AttributeError raised and caught (~1 µs).
        setattr(app.state, ROUTE_SCOPES_STATE, {})
        return
    problems = override_problems(describe_routes(app), overrides)
    if problems:
        raise RouteScopesError(problems)
    # What RequireAccess looks up for the route a request matched (FastAPI puts the route object
    # in the request's scope, as Starlette does): by the route object and method, each a
    # route key the overrides may name. HEAD requests reach a GET route and take its scopes.
    by_route: dict[tuple[int, str], tuple[str, ...]] = {}
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        for method in context.methods or ():
            key = route_key("GET" if method == "HEAD" else method, str(context.path))
            if key in overrides:
                by_route[(id(context.original_route), method)] = tuple(overrides[key])
    setattr(app.state, ROUTE_SCOPES_STATE, by_route)
    app.state.route_scope_overrides = {key: tuple(scopes) for key, scopes in overrides.items()}


def overrides_of(app: FastAPI) -> dict[str, tuple[str, ...]]:
    """The app's overrides by route key (none for an app built without settings)."""
    overrides: dict[str, tuple[str, ...]] = getattr(app.state, "route_scope_overrides", {})
    return overrides


def effective_routes(app: FastAPI) -> list[RouteAccess]:
    """`describe_routes`, with each overridden route's scopes replaced by the deployment's."""
    overrides = overrides_of(app)
    return [
        replace(route, scopes=overrides[key]) if (key := route_key(route.method, route.path)) in overrides else route
        for route in describe_routes(app)
    ]
