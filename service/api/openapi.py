"""The OpenAPI document, with the answers every protected operation can give.

A route declares its access once (`Authenticated(...)`), from which FastAPI writes the
operation's `security`; the 401 and 403 that come with it are documented here, from that
same `security`, rather than declared a second time on each route.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.core.errors import PROBLEM_JSON, GatewayMessage, Problem

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
            _problems_as_problem_json(schema)
            _document_access_refusals(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
