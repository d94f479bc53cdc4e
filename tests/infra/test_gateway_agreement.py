"""The gateway serves exactly the service's operations, each with the access the service declares.

The expectation is read from the service here, independently of `infra/routes.py`: the app is
built from the synthesized function's environment, its OpenAPI document gives each operation's
security, `describe_routes` the routes served outside the document.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI

from service.app import create_app
from service.core.access.declaration import Authenticated, describe_routes
from service.core.settings import build_settings
from tests.declared import UNDECLARED_SCOPE, a_scope, declared_routes, scoped_route
from tests.infra.conftest import Synthesized

Access = tuple[str, tuple[str, ...] | None]  # (authorization type, scopes)


def service_app(synth: Synthesized) -> FastAPI:
    """The app as the function builds it at cold start (Lambda adds AWS_REGION itself)."""
    environment = {name.lower(): value for name, value in synth.function_environment.items()}
    return create_app(build_settings(aws_region="eu-west-1", **environment))


def route_key(method: str, path: str) -> str:
    path = re.sub(r"\{(\w+):path\}", r"{\1+}", path)
    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)
    return f"{method.upper()} {path}"


def expected_access(app: FastAPI) -> dict[str, Access]:
    documented: dict[str, Access] = {}
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            security = operation.get("security")
            scopes = tuple(s for requirement in security or [] for names in requirement.values() for s in names)
            documented[route_key(method, path)] = ("JWT", scopes or None) if security else ("NONE", None)
    expected = {}
    for served in describe_routes(app):
        key = route_key(served.method, served.path)
        expected[key] = documented.get(key, ("NONE", None) if served.public else ("JWT", served.scopes or None))
    return expected


def gateway_access(synth: Synthesized) -> dict[str, Access]:
    routes = synth.resources("AWS::ApiGatewayV2::Route").values()
    return {
        r["Properties"]["RouteKey"]: (
            r["Properties"]["AuthorizationType"],
            tuple(r["Properties"]["AuthorizationScopes"]) if "AuthorizationScopes" in r["Properties"] else None,
        )
        for r in routes
    }


def disagreements(gateway: dict[str, Access], service: dict[str, Access]) -> list[str]:
    problems = [f"{key}: the gateway routes it, the service does not serve it" for key in gateway.keys() - service]
    problems += [f"{key}: the service serves it, the gateway has no route" for key in service.keys() - gateway]
    problems += [
        f"{key}: gateway {gateway[key]}, service declares {service[key]}"
        for key in gateway.keys() & service.keys()
        if gateway[key] != service[key]
    ]
    return sorted(problems)


def test_every_service_operation_has_its_route_with_its_access(
    default_synth: Synthesized, custom_synth: Synthesized, override_synth: Synthesized
) -> None:
    # With route_scopes, the service's access is the effective one: its declarations with the overrides.
    for synth in (default_synth, custom_synth, override_synth):
        assert disagreements(gateway_access(synth), expected_access(service_app(synth))) == []


def test_scoped_operations_carry_their_scopes_to_the_gateway(default_synth: Synthesized) -> None:
    scoped_route()  # skipped where the app declares none
    gateway = gateway_access(default_synth)

    # Each route's scopes, as the route declares them, reach the gateway.
    for route in declared_routes():
        if route.scopes:
            assert gateway[route_key(route.method, route.path)] == ("JWT", route.scopes)


def test_docs_routes_follow_docs_enabled(default_synth: Synthesized, custom_synth: Synthesized) -> None:
    docs = {"GET /v1/docs", "GET /v1/redoc", "GET /v1/openapi.json"}

    assert docs <= gateway_access(default_synth).keys()
    assert not docs & gateway_access(custom_synth).keys()


def test_no_catch_all_route(default_synth: Synthesized) -> None:
    keys = gateway_access(default_synth).keys()

    assert "$default" not in keys
    assert not [key for key in keys if "+}" in key or key.startswith("ANY ")]


def test_every_route_targets_the_one_integration(default_synth: Synthesized) -> None:
    (integration_id,) = default_synth.resources("AWS::ApiGatewayV2::Integration")
    targets = {str(r["Properties"]["Target"]) for r in default_synth.resources("AWS::ApiGatewayV2::Route").values()}

    assert targets == {str({"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]})}


def test_a_disagreement_is_reported(default_synth: Synthesized) -> None:
    # The check itself must notice drift: a service with one more scoped route than the gateway.
    app = service_app(default_synth)
    extra = APIRouter()

    @extra.get("/v1/reports", operation_id="list_reports", dependencies=[Authenticated(scopes=[a_scope()])])
    async def list_reports() -> list[Any]:
        return []

    app.include_router(extra)
    app.openapi_schema = None

    assert disagreements(gateway_access(default_synth), expected_access(app)) == [
        "GET /v1/reports: the service serves it, the gateway has no route"
    ]
    route = scoped_route()
    key = route_key(route.method, route.path)
    drifted = {**gateway_access(default_synth), key: ("JWT", (UNDECLARED_SCOPE,))}
    assert f"{key}: gateway ('JWT', ('{UNDECLARED_SCOPE}',)), service declares ('JWT', {route.scopes})" in (
        disagreements(drifted, expected_access(service_app(default_synth)))
    )


@pytest.mark.parametrize(
    ("path", "key"),
    [("/v1/items/{item_id:int}", "GET /v1/items/{item_id}"), ("/v1/files/{path:path}", "GET /v1/files/{path+}")],
)
def test_route_keys_use_gateway_parameter_syntax(path: str, key: str) -> None:
    assert route_key("get", path) == key
