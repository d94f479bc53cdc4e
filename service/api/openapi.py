"""The OpenAPI document, with the answers every protected operation can give.

A route declares its access once (`Authenticated(...)`), which puts `security` on its
operation; the 401 and 403 that come with it are documented here, from that same `security`,
rather than declared a second time on each route.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.core.access import security_scheme
from service.core.errors import PROBLEM_JSON, GatewayMessage, Problem
from service.core.security import SECURITY_SCHEME_NAME

_REF = "#/components/schemas/"


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + ref}}}


def _operations(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operations in schema.get("paths", {}).values():
        yield from operations.values()


def _document_access_refusals(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("GatewayMessage", GatewayMessage.model_json_schema())
    for operation in _operations(schema):
        if not operation.get("security"):
            continue
        responses = operation.setdefault("responses", {})
        responses.setdefault(
            "401",
            {"description": "No token, or one the JWT authorizer refuses", "content": _json("GatewayMessage")},
        )
        responses.setdefault(
            "403",
            {
                "description": "The token lacks the route's scope (gateway), or the caller its group (app)",
                "content": {**_json("GatewayMessage"), PROBLEM_JSON: {"schema": {"$ref": _REF + "Problem"}}},
            },
        )


def _security_as_fastapi_writes_it(schema: dict[str, Any]) -> None:
    """Operation `security` and the scheme it names, as if FastAPI had solved every requirement.

    `AccessRoute` writes a route's own requirement into the operation itself; FastAPI adds the
    scheme only for requirements it solves, and writes one entry per scheme with the scopes of
    all of them (a router's `dependencies` may add one beside the route's).
    """
    secured = False
    for operation in _operations(schema):
        merged: dict[str, list[str]] = {}
        for requirement in operation.get("security", ()):
            for name, scopes in requirement.items():
                kept = merged.setdefault(name, [])
                for scope in scopes:
                    if scope not in kept:
                        kept.append(scope)
        if merged:
            operation["security"] = [{name: scopes} for name, scopes in merged.items()]
            secured = True
    if secured:
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.setdefault(SECURITY_SCHEME_NAME, security_scheme())


def _problems_as_problem_json(schema: dict[str, Any]) -> None:
    """Responses declared with the `Problem` model are sent as application/problem+json."""
    problem = {"$ref": _REF + Problem.__name__}
    for operation in _operations(schema):
        for response in operation.get("responses", {}).values():
            content = response.get("content", {})
            if content.get("application/json", {}).get("schema") == problem:
                content[PROBLEM_JSON] = content.pop("application/json")


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            _security_as_fastapi_writes_it(schema)
            _problems_as_problem_json(schema)
            _document_access_refusals(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
