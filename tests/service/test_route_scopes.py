"""A deployment's route scopes (`ROUTE_SCOPES`) replace the declared ones wherever scopes are enforced or shown.

The routes come from the app's declarations (tests/declared.py): a route that asks for a scope,
one that takes any valid token, a public one; where the app has none of a kind, the `scoped` and
`throwaways` fixtures add a throwaway one. `make dev` runs the app in another process: its test
overrides the app's own routes (tests/route_scopes.py). The override's scope is this test's own,
as an operator would declare it in the context key `known_scopes`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from infra.dev_context import route_scopes_for
from service.app import create_app
from service.core.access.declaration import KNOWN_SCOPES, SECURITY_SCHEME_NAME, RouteAccess
from service.core.access.route_scopes import RouteScopesError, route_key
from service.core.identity.local import load_or_create_signing_key
from service.core.settings import Settings, SettingsError, build_settings
from service.runtime.lambda_adapter import build_handler
from tests.declared import DEMO_ADMIN_GROUPS, a_public_route, a_token_only_route
from tests.route_scopes import STRONGER_SCOPE, route_scopes_context, tightened_route
from tests.service.conftest import TokenForger
from tests.service.test_lambda_handler import for_route, invoke, lambda_settings
from tests.support import committed_context, load_event, running_dev_server


def key(route: RouteAccess) -> str:
    return route_key(route.method, route.path)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def app_with(make_local_app: Callable[..., FastAPI], overrides: dict[str, list[str]]) -> FastAPI:
    return make_local_app(route_scopes=json.dumps(overrides))


def test_a_scoped_route_overridden_refuses_its_declared_scope_and_takes_the_new_one(
    scoped: RouteAccess, make_local_app: Callable[..., FastAPI], forger: TokenForger
) -> None:
    route = scoped
    app = app_with(make_local_app, {key(route): [STRONGER_SCOPE]})
    with TestClient(app) as client:
        declared_only = client.get(route.path, headers=bearer(forger.token(scope=" ".join(route.scopes))))
        stronger = client.get(route.path, headers=bearer(forger.token(scope=STRONGER_SCOPE)))

    assert (declared_only.status_code, declared_only.json()) == (403, {"message": "Forbidden"})
    assert stronger.status_code == 200, stronger.text


def test_a_token_only_route_overridden_requires_the_scope(
    throwaways: None, make_local_app: Callable[..., FastAPI], forger: TokenForger
) -> None:
    route = a_token_only_route()
    app = app_with(make_local_app, {key(route): [STRONGER_SCOPE]})
    with TestClient(app) as client:
        without = client.get(route.path, headers=bearer(forger.token(scope=" ".join(KNOWN_SCOPES))))
        with_it = client.get(route.path, headers=bearer(forger.token(scope=STRONGER_SCOPE)))

    assert without.status_code == 403
    assert with_it.status_code == 200, with_it.text


def test_an_empty_list_lets_any_valid_token_in_and_still_refuses_none(
    scoped: RouteAccess, make_local_app: Callable[..., FastAPI], forger: TokenForger
) -> None:
    route = scoped
    app = app_with(make_local_app, {key(route): []})
    with TestClient(app) as client:
        no_scope = client.get(route.path, headers=bearer(forger.token(scope=None)))
        no_token = client.get(route.path)

    assert no_scope.status_code == 200, no_scope.text
    assert no_token.status_code == 401


def test_the_admin_listing_and_the_openapi_document_show_the_effective_scopes(
    scoped: RouteAccess, throwaways: None, make_local_app: Callable[..., FastAPI], forger: TokenForger
) -> None:
    token_only = a_token_only_route()
    overrides = {key(scoped): [STRONGER_SCOPE], key(token_only): []}
    app = app_with(make_local_app, overrides)
    with TestClient(app) as client:
        listing = client.get(
            "/v1/admin/endpoints", headers=bearer(forger.token(groups=sorted(DEMO_ADMIN_GROUPS)))
        ).json()
        document = client.get("/v1/openapi.json").json()

    listed = {f"{e['method']} {e['path']}": e["scopes"] for e in listing}
    assert listed[key(scoped)] == [STRONGER_SCOPE]
    assert listed[key(token_only)] == []
    security = {
        f"{method.upper()} {path}": operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert security[key(scoped)] == [{SECURITY_SCHEME_NAME: [STRONGER_SCOPE]}]
    # Swagger UI's Authorize dialog offers the deployment's scope beside the declared ones.
    flow = document["components"]["securitySchemes"][SECURITY_SCHEME_NAME]["flows"]["password"]
    assert STRONGER_SCOPE in flow["scopes"]
    assert set(KNOWN_SCOPES) <= set(flow["scopes"])


def test_routes_without_an_override_keep_their_declared_scopes(
    scoped: RouteAccess, throwaways: None, make_local_app: Callable[..., FastAPI]
) -> None:
    route = scoped
    declared = make_local_app().openapi()["paths"]
    overridden = app_with(make_local_app, {key(a_token_only_route()): [STRONGER_SCOPE]}).openapi()["paths"]

    assert overridden[route.path] == declared[route.path]


def _refusal(overrides: Any) -> str:
    with pytest.raises(SettingsError) as raised:
        create_app(build_settings(route_scopes=json.dumps(overrides) if not isinstance(overrides, str) else overrides))
    return str(raised.value)


def test_an_override_naming_no_route_stops_start_up_with_the_closest_route(scoped: RouteAccess) -> None:
    route = scoped
    message = _refusal({key(route) + "x": ["a:b"]})

    assert message == (
        f"invalid settings: ROUTE_SCOPES: '{key(route)}x' is not a route the service serves; "
        f"did you mean '{key(route)}'?"
    )


def test_an_override_on_a_public_route_stops_start_up_saying_why(throwaways: None) -> None:
    with pytest.raises(RouteScopesError) as raised:
        create_app(build_settings(route_scopes=json.dumps({key(a_public_route()): [STRONGER_SCOPE]})))

    (problem,) = raised.value.problems
    assert "is public in the service" in problem
    assert "never sees a token" in problem
    assert "fix: declare Authenticated(...)" in problem


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not json", "must be a JSON object of route keys to lists of scopes"),
        ('["GET /v1/items"]', "must be a JSON object of route keys to lists of scopes"),
        ('{"get /v1/items": []}', "'get /v1/items' is not a route key: METHOD /path"),
        ('{"GET /v1/items": ["two words"]}', "each scope must be a name without spaces or quotes"),
        (json.dumps({"GET /v1/items": [f"s{n}" for n in range(11)]}), "11 scopes, over API Gateway's 10 per route"),
    ],
)
def test_a_malformed_variable_stops_start_up_naming_it(value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        build_settings(route_scopes=value)

    assert str(raised.value).startswith("invalid settings: ROUTE_SCOPES: ")
    assert problem in str(raised.value)
    assert "\n" not in str(raised.value)


def test_without_the_variable_nothing_is_overridden() -> None:
    assert Settings().route_scopes == {}


@pytest.mark.e2e
def test_make_dev_with_the_context_enforces_the_override(tmp_path: Path) -> None:
    """The server make dev runs, given the ROUTE_SCOPES make dev reads from the context (infra/dev_context.py)."""
    route = tightened_route()
    value = route_scopes_for({**committed_context(), **route_scopes_context()})
    with running_dev_server(tmp_path, ROUTE_SCOPES=value) as base_url:
        # The server's embedded issuer signs with this key; an identity provider would grant these scopes.
        forger = TokenForger(load_or_create_signing_key(tmp_path / "local-idp-key.pem"))
        with httpx.Client(base_url=base_url, timeout=30) as client:
            declared_only = client.get(route.path, headers=bearer(forger.token(scope=" ".join(route.scopes))))
            stronger = client.get(route.path, headers=bearer(forger.token(scope=STRONGER_SCOPE)))

    assert (declared_only.status_code, declared_only.json()) == (403, {"message": "Forbidden"})
    assert stronger.status_code == 200, stronger.text


def test_in_lambda_the_app_checks_the_effective_scopes_again(scoped: RouteAccess) -> None:
    """A token the gateway let through with the declared scope only (a stale route, say) is refused by the function."""
    route = scoped
    declared_scope_event = for_route(load_event("items_with_scope.json"), route)
    overridden = build_handler(lambda_settings(route_scopes=json.dumps({key(route): [STRONGER_SCOPE]})))
    declared = build_handler(lambda_settings())

    assert invoke(declared, declared_scope_event)[0] == 200
    status, _, body = invoke(overridden, declared_scope_event)
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
