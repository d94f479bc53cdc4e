"""Tokens shaped like each identity provider's, through both runtimes: the claims the gateway renders, read back exact.

Every fixture of tests/events/ that carries an authorizer's verdict (see its README for where
each shape comes from) goes through the documented handler; the same claims, signed by the
embedded issuer, go through `make dev`'s runtime, and the Firebase ones, unsigned, through the
runtime in Firebase emulator mode. Expectations come from the app's own declarations: whoami
answers the token's exact claims, and each route declaring groups answers 200 or 403 by the
groups the configured claim names.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sandbox.claim_text import gateway_claims
from service.app import create_app
from service.core.access.claims import flatten_claims, groups_from_claim
from service.core.access.declaration import RouteAccess, describe_routes
from service.core.settings import LOCAL_AUDIENCE, LOCAL_ISSUER, Settings
from service.runtime.lambda_adapter import LambdaHandler, build_handler
from tests.service.conftest import TokenForger
from tests.service.test_lambda_handler import invoke, lambda_settings
from tests.support import load_event

# Each fixture with the groups claim its identity provider is configured with.
FIXTURES: dict[str, str] = {
    "whoami_named_stage.json": "groups",
    "whoami_firebase_google_sign_in.json": "groups",
    "whoami_cognito_access_token.json": "cognito:groups",
    "whoami_cognito_id_token.json": "cognito:groups",
    "whoami_auth0_namespaced_roles.json": "https://api.example.com/roles",
    "whoami_keycloak.json": "groups",
    "whoami_okta_scp_list.json": "groups",
    "whoami_null_claim.json": "groups",
}
FIREBASE_FIXTURES = ["whoami_named_stage.json", "whoami_firebase_google_sign_in.json"]
FIREBASE_PROJECT = "demo-project"
FIREBASE_ISSUER = f"https://securetoken.google.com/{FIREBASE_PROJECT}"


def token_claims(event: dict[str, Any]) -> dict[str, Any]:
    token = event["headers"]["authorization"].removeprefix("Bearer ")
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def authorizer_claims(event: dict[str, Any]) -> dict[str, str]:
    rendered: dict[str, str] = event["requestContext"]["authorizer"]["jwt"]["claims"]
    return rendered


def unscoped_get_routes(app: FastAPI) -> list[RouteAccess]:
    """The authenticated GET routes without scopes or path parameters: any of these tokens may reach them."""
    return [
        route
        for route in describe_routes(app)
        if route.method == "GET" and not route.public and not route.scopes and "{" not in route.path
    ]


def expected_status(route: RouteAccess, claims: dict[str, Any], groups_claim: str) -> int:
    if not route.groups:
        return 200
    return 200 if groups_from_claim(claims.get(groups_claim)) & set(route.groups) else 403


def event_for(fixture: dict[str, Any], route: RouteAccess, stage: str) -> dict[str, Any]:
    event = copy.deepcopy(fixture)
    event["routeKey"] = event["requestContext"]["routeKey"] = f"GET {route.path}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/{stage}{route.path}"
    return event


@pytest.mark.parametrize("name", FIXTURES)
def test_each_fixture_holds_the_gateways_rendering_of_its_tokens_claims(name: str) -> None:
    """The fixtures pin both renderers, the service's and the sandbox's own."""
    event = load_event(name)
    claims = token_claims(event)
    assert authorizer_claims(event) == flatten_claims(claims) == gateway_claims(claims)


def test_the_firebase_fixtures_show_the_object_claim_as_go_prints_it() -> None:
    assert authorizer_claims(load_event("whoami_named_stage.json"))["firebase"] == (
        "map[identities:map[email:[admin@example.com]] sign_in_provider:password]"
    )
    assert authorizer_claims(load_event("whoami_firebase_google_sign_in.json"))["firebase"] == (
        "map[identities:map[email:[ada.lovelace@gmail.com] google.com:[104838294756384920183]]"
        " sign_in_provider:google.com]"
    )
    # A null claim is not in the authorizer's claims at all.
    null_event = load_event("whoami_null_claim.json")
    assert {name for name, value in token_claims(null_event).items() if value is None} == {"middle_name", "picture"}
    assert not {"middle_name", "picture"} & authorizer_claims(null_event).keys()


@pytest.mark.parametrize(("name", "groups_claim"), FIXTURES.items())
def test_each_fixture_through_the_lambda_handler(name: str, groups_claim: str) -> None:
    settings = lambda_settings(jwt_authorization_groups_attr_name=groups_claim)
    handler: LambdaHandler = build_handler(settings)
    fixture = load_event(name)
    claims = token_claims(fixture)

    status, _, body = invoke(handler, fixture)
    assert status == 200, body
    assert json.loads(body) == claims

    routes = unscoped_get_routes(create_app(settings))
    assert any(route.groups for route in routes)
    for route in routes:
        status, _, body = invoke(handler, event_for(fixture, route, settings.aws_api_gw_stage_name))
        assert status == expected_status(route, claims, groups_claim), (route.path, body)


def with_fresh_times(claims: dict[str, Any], *, issuer: str, audience: str) -> dict[str, Any]:
    """The fixture's claims for another issuer, valid now: `aud` (or else `client_id`) and times replaced."""
    now = int(time.time())
    fresh = {**claims, "iss": issuer, "iat": now, "exp": now + 600}
    if "aud" in fresh:
        fresh["aud"] = [audience, "another-audience"] if isinstance(fresh["aud"], list) else audience
    else:
        fresh["client_id"] = audience
    for name in ("auth_time", "nbf"):
        if name in fresh:
            fresh[name] = now
    return fresh


def assert_whoami_and_every_route_read_the_claims(
    app: FastAPI, headers: dict[str, str], claims: dict[str, Any], groups_claim: str
) -> None:
    """whoami answers the token's exact claims; every other GET route 200 or 403 by the groups claim."""
    with TestClient(app) as client:
        whoami = client.get("/v1/users/whoami", headers=headers)
        assert whoami.status_code == 200, whoami.text
        assert whoami.json() == claims
        for route in unscoped_get_routes(app):
            response = client.get(route.path, headers=headers)
            assert response.status_code == expected_status(route, claims, groups_claim), (route.path, response.text)


@pytest.mark.parametrize(("name", "groups_claim"), FIXTURES.items())
def test_the_same_claims_signed_by_the_embedded_issuer_through_the_local_runtime(
    name: str, groups_claim: str, make_local_app: Callable[..., FastAPI], forger: TokenForger
) -> None:
    claims = with_fresh_times(token_claims(load_event(name)), issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE)
    app = make_local_app(jwt_authorization_groups_attr_name=groups_claim)
    headers = {"authorization": f"Bearer {forger.sign(claims)}"}
    assert_whoami_and_every_route_read_the_claims(app, headers, claims, groups_claim)


def unsigned(claims: dict[str, Any]) -> str:
    """A token as the Firebase Auth emulator issues it: `alg: none`, no signature."""
    return jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", FIREBASE_FIXTURES)
def test_firebase_emulator_tokens_take_the_same_path_in_the_local_runtime(name: str) -> None:
    claims = with_fresh_times(token_claims(load_event(name)), issuer=FIREBASE_ISSUER, audience=FIREBASE_PROJECT)
    settings = Settings(
        runtime="LOCAL",  # type: ignore[arg-type]
        identity_provider="firebase",  # type: ignore[arg-type]
        firebase_app_api_key="demo-key",  # type: ignore[arg-type]
        # Never reached: the emulator's unsigned tokens need no key set, and no route here signs in.
        firebase_auth_emulator_host="127.0.0.1:9",
        jwt_issuer=FIREBASE_ISSUER,
        jwt_audience=[FIREBASE_PROJECT],
    )
    app = create_app(settings)
    headers = {"authorization": f"Bearer {unsigned(claims)}"}
    assert_whoami_and_every_route_read_the_claims(app, headers, claims, "groups")
