"""The gateway's routes, read from the service.

A route's access is declared once, on the route (`Authenticated(scopes=..., groups=...)` in
`service/core/access.py`). FastAPI writes that declaration into the OpenAPI document as the
operation's `security`; this module turns each documented operation into an HTTP API route:
the JWT authorizer with the operation's scopes where it declares security, none where it does
not. The document carries the deployment's effective scopes: a route's `route_scopes` override
(`ROUTE_SCOPES`, in the environment the app is built from) in place of its declaration. Routes
the app serves outside the document (Swagger UI, ReDoc and the document itself,
present when the docs are enabled) come from `describe_routes` and must be public. Groups are
not the gateway's business: the app enforces them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.routing import NoMatchFound

from service.core.access.declaration import describe_routes
from service.core.access.route_scopes import gateway_path

HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH")

# Starlette's path converters: `{name}` or `{name:path}` and friends.
_PATH_PARAMETER = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<convertor>[a-z]+))?\}")

# Swagger UI's route name in the service; the stack prints its URL.
DOCS_ROUTE_NAME = "swagger_ui"
# The health check's route name in the service; the pipeline calls it after each deployment.
HEALTH_ROUTE_NAME = "health_check"
# The token endpoint's route name in the service; the gateway throttles it on its own.
TOKEN_ROUTE_NAME = "issue_token"  # noqa: S105 - a route name


class RouteDerivationError(Exception):
    """The service declares something the gateway cannot express."""


@dataclass(frozen=True)
class GatewayRoute:
    """One HTTP API route: `authorized` routes get the JWT authorizer and `scopes`."""

    method: str
    path: str
    authorized: bool
    scopes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The route key as API Gateway writes it, e.g. `GET /v1/items`."""
        return f"{self.method} {self.path}"


def http_api_path(path: str) -> str:
    """A Starlette path in HTTP API syntax: `{name:path}` is the greedy `{name+}`, other converters drop."""
    for match in _PATH_PARAMETER.finditer(path):
        if match["convertor"] == "path" and match.end() != len(path):
            raise RouteDerivationError(f"{path}: HTTP API allows a greedy parameter only as the last segment")
    # The same conversion the service keys its route_scopes overrides with.
    return gateway_path(path)


def _operation_scopes(operation: dict[str, Any]) -> tuple[str, ...] | None:
    """None for a public operation; else every scope any of its security requirements names."""
    security: list[dict[str, list[str]]] = operation.get("security") or []
    if not security:
        return None
    scopes = (scope for requirement in security for scheme_scopes in requirement.values() for scope in scheme_scopes)
    return tuple(dict.fromkeys(scopes))


def gateway_routes(app: FastAPI) -> tuple[GatewayRoute, ...]:
    """One route per operation the app serves, with the access its declaration gives it."""
    documented: dict[tuple[str, str], tuple[str, ...] | None] = {}
    for path, operations in app.openapi().get("paths", {}).items():
        for method, operation in operations.items():
            if method.upper() in HTTP_METHODS:
                documented[(method.upper(), path)] = _operation_scopes(operation)

    routes: dict[str, GatewayRoute] = {}
    for served in describe_routes(app):
        openapi_path = _PATH_PARAMETER.sub(lambda m: "{" + m["name"] + "}", served.path)
        if (served.method, openapi_path) in documented:
            scopes = documented[(served.method, openapi_path)]
        elif served.public:
            scopes = None
        else:
            raise RouteDerivationError(
                f"{served.method} {served.path} is protected but missing from the OpenAPI document, "
                "so its access cannot reach the gateway: include it in the schema"
            )
        route = GatewayRoute(
            method=served.method, path=http_api_path(served.path), authorized=scopes is not None, scopes=scopes or ()
        )
        if route.key in routes:
            raise RouteDerivationError(f"{route.key} is served twice")
        routes[route.key] = route
    return tuple(routes.values())


def docs_path(app: FastAPI) -> str | None:
    """The path of Swagger UI, or None where the app serves no docs."""
    try:
        return app.url_path_for(DOCS_ROUTE_NAME)
    except NoMatchFound:
        return None


def health_path(app: FastAPI) -> str:
    """The path of the public health check, which every deployment of the service serves."""
    return app.url_path_for(HEALTH_ROUTE_NAME)


def token_path(app: FastAPI) -> str:
    """The path of the public token endpoint, where sign-ins (and credential stuffing) arrive."""
    return app.url_path_for(TOKEN_ROUTE_NAME)
