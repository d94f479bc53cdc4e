"""The OpenAPI document, with the answers every protected operation can give.

A route declares its access once (`Authenticated(...)`), from which FastAPI writes the
operation's `security`; the 401 and 403 that come with it are documented here, from that
same `security`, rather than declared a second time on each route.

Models that only the document reads (`document_only`) get their schemas here too, when the
document is first built, rather than when their routes are declared.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import OpenAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from service.core.access.declaration import SECURITY_SCHEME_NAME
from service.core.access.route_scopes import effective_routes, overrides_of, route_key
from service.core.errors import PROBLEM_JSON, GatewayMessage, Problem

_REF = "#/components/schemas/"

# Registered by `document_only`, by name: filled into the document where it refers to them.
_DOCUMENT_ONLY: dict[str, type[BaseModel]] = {}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + ref}}}


def _operations(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operations in schema.get("paths", {}).values():
        yield from operations.values()


def document_only(model: type[BaseModel]) -> dict[str, Any]:
    """A schema reference to `model` for a route's `responses` content or `openapi_extra`.

    The document gets `model`'s schema when it is first built: in a request body inline, as
    FastAPI writes a body's, in a response as a component. Declared with `"model": ...`, a
    response would build a validator per status when the route is declared, and a model's
    schema costs as much again: work that only the document needs, paid by every cold start
    (issue 23: about 13 million instructions for the token route's alone).
    """
    _DOCUMENT_ONLY.setdefault(model.__name__, model)
    if _DOCUMENT_ONLY[model.__name__] is not model:
        raise ValueError(f"two document-only models named {model.__name__}")
    return {"$ref": _REF + model.__name__}


def _document_only_model(schema: Any) -> type[BaseModel] | None:
    ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
    return _DOCUMENT_ONLY.get(ref.removeprefix(_REF)) if ref.startswith(_REF) else None


def _fill_document_only_schemas(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for operation in _operations(schema):
        for content in operation.get("requestBody", {}).get("content", {}).values():
            model = _document_only_model(content.get("schema"))
            if model is not None:
                content["schema"] = model.model_json_schema()
        for response in operation.get("responses", {}).values():
            for content in response.get("content", {}).values():
                model = _document_only_model(content.get("schema"))
                if model is not None and model.__name__ not in components:
                    # Serialized, as FastAPI documents a response model.
                    generated = model.model_json_schema(ref_template=_REF + "{model}", mode="serialization")
                    components.update(generated.pop("$defs", {}))
                    components[model.__name__] = generated
    # In name order, as FastAPI writes its own.
    schema["components"]["schemas"] = dict(sorted(components.items()))


def _as_fastapi_writes_it(schema: dict[str, Any]) -> dict[str, Any]:
    """The document through the model and encoding `get_openapi` ends with, now with the filled-in schemas."""
    document: dict[str, Any] = jsonable_encoder(OpenAPI(**schema), by_alias=True, exclude_none=True)
    return document


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


def _security_as_deployed(schema: dict[str, Any], app: FastAPI) -> None:
    """Each overridden operation's security is this deployment's scopes (ROUTE_SCOPES), not the declared ones.

    The document is what Swagger UI authorizes with and what the CDK construct routes the
    gateway from, so both follow the deployment; a scope only the deployment's context
    declares is offered by the password flow too, without the service's description.
    """
    overrides = overrides_of(app)
    if not overrides:
        return
    paths = schema.get("paths", {})
    for route in effective_routes(app):
        if route_key(route.method, route.path) not in overrides:
            continue
        # The document writes every path parameter plainly: `{name}`, whatever its converter.
        documented = re.sub(r"\{(\w+)(?::\w+)?\}", r"{\1}", route.path)
        operation = paths.get(documented, {}).get(route.method.lower())
        if operation is not None:
            operation["security"] = [{SECURITY_SCHEME_NAME: list(route.scopes)}]
    scheme = schema.get("components", {}).get("securitySchemes", {}).get(SECURITY_SCHEME_NAME, {})
    offered = scheme.get("flows", {}).get("password", {}).get("scopes")
    if offered is not None:
        for scope in dict.fromkeys(s for scopes in overrides.values() for s in scopes):
            offered.setdefault(scope, "Required by this deployment's route_scopes")


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
            _fill_document_only_schemas(schema)
            schema = _as_fastapi_writes_it(schema)
            _problems_as_problem_json(schema)
            _security_as_deployed(schema, app)
            _document_access_refusals(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
