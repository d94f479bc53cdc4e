"""The OpenAPI document, with the answers every protected operation can give.

A route declares its access once (`Authenticated(...)`), from which FastAPI writes the
operation's `security`; the 401 and 403 that come with it are documented here, from that
same `security`, rather than declared a second time on each route. So are the groups a
route requires (`x-required-groups`, and a sentence of its description), which no OpenAPI
field expresses, and the gateway's throttling answer, which any operation may get.

The document is a contract with the API's consumers: `make openapi` commits it
(`contract/openapi.json`), and `make api-diff` refuses a change that breaks it (docs/api-contract.md).

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

from service.core.access.declaration import SECURITY_SCHEME_NAME, describe_routes
from service.core.access.route_scopes import effective_routes, overrides_of, route_key
from service.core.errors import PROBLEM_JSON, GatewayMessage, Problem

_REF = "#/components/schemas/"
# The groups a route requires, one of which the caller must be in: an OpenAPI extension, since
# OAuth scopes are the only access the specification describes. The breaking-change gate reads it.
GROUPS_EXTENSION = "x-required-groups"

# Registered by `document_only`, by name: filled into the document where it refers to them.
_DOCUMENT_ONLY: dict[str, type[BaseModel]] = {}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + ref}}}


def _operations(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operations in schema.get("paths", {}).values():
        yield from operations.values()


def success_example(example: Any, *, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route's `responses` entry: an example of its success, for the docs pages and the clients' readers."""
    return {status: {"content": {"application/json": {"example": example}}}}


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
            # Public, said explicitly: a consumer (and a linter) need not guess.
            operation["security"] = []
            continue
        responses = operation.setdefault("responses", {})
        responses.setdefault(
            "401",
            {"description": "No token, or one the JWT authorizer refuses", "content": _json("GatewayMessage")},
        )
        # Either body under either media type: generated clients read one media type per status
        # (openapi-python-client the first it knows), and must parse both refusals from it.
        either = {"schema": {"anyOf": [{"$ref": _REF + "GatewayMessage"}, {"$ref": _REF + "Problem"}]}}
        responses.setdefault(
            "403",
            {
                "description": "The token lacks the route's scope (gateway: application/json), "
                "or the caller its group (app: application/problem+json)",
                "content": {"application/json": either, PROBLEM_JSON: either},
            },
        )


def _documented_path(path: str) -> str:
    """A route's path as the document writes it: every path parameter plainly, `{name}`, whatever its converter."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", r"{\1}", path)


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
        operation = paths.get(_documented_path(route.path), {}).get(route.method.lower())
        if operation is not None:
            operation["security"] = [{SECURITY_SCHEME_NAME: list(route.scopes)}]
    scheme = schema.get("components", {}).get("securitySchemes", {}).get(SECURITY_SCHEME_NAME, {})
    offered = scheme.get("flows", {}).get("password", {}).get("scopes")
    if offered is not None:
        for scope in dict.fromkeys(s for scopes in overrides.values() for s in scopes):
            offered.setdefault(scope, "Required by this deployment's route_scopes")


def _document_throttling(schema: dict[str, Any]) -> None:
    """The stage's throttling answers any operation before the function runs.

    429 with `{"message":"Too Many Requests"}`: "Throttle requests to your HTTP APIs for better
    throughput in API Gateway" (AWS API Gateway Developer Guide) names the status; the body is
    API Gateway's own message shape, as for its 401 and 403. Where a route answers 429 itself
    (the token endpoint, for a throttling identity provider), either body may come.
    """
    gateway = {"$ref": _REF + "GatewayMessage"}
    for operation in _operations(schema):
        responses = operation.setdefault("responses", {})
        own = responses.get("429")
        if own is None:
            responses["429"] = {
                "description": "The API's throttling limit was reached (API Gateway)",
                "content": {"application/json": {"schema": gateway}},
            }
            continue
        own["description"] += "; or the API's throttling limit was reached (API Gateway's own body)"
        content = own.setdefault("content", {}).setdefault("application/json", {})
        content["schema"] = {"anyOf": [content["schema"], gateway]} if "schema" in content else gateway


def _document_groups(schema: dict[str, Any], app: FastAPI) -> None:
    """Each operation's required groups, as an extension and a sentence of its description."""
    paths = schema.get("paths", {})
    for route in describe_routes(app):
        operation = paths.get(_documented_path(route.path), {}).get(route.method.lower())
        if operation is None or not route.groups:
            continue
        operation[GROUPS_EXTENSION] = list(route.groups)
        names = ", ".join(f"`{group}`" for group in route.groups)
        sentence = f"Requires membership in one of the groups {names} (checked by the service: 403 `missing_group`)."
        operation["description"] = f"{operation.get('description', '').rstrip()}\n\n{sentence}".lstrip()


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
            _document_throttling(schema)
            _document_groups(schema, app)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
