"""The sandbox does what the template says, and only that: a copy of it, changed, changes what a client meets.

Each test serves a copy of the synthesized assembly whose template lost something a CDK
change could lose (a route's authorizer, its scopes, the stage's name matching the
function's `AWS_API_GW_STAGE_NAME`) or gained something (CORS, tighter throttling), and
shows the difference over a real socket, next to what the unchanged template does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.declared import (
    UNDECLARED_SCOPE,
    a_scoped_route,
    app_declares_a_scoped_route,
    caller_of,
    with_throwaway_route,
)
from tests.support_sandbox import (
    STAGE,
    RunningSandbox,
    ServedCopy,
    offline_bearer,
    resources,
    route_properties,
    running_sandbox,
)

pytestmark = pytest.mark.e2e

ADMIN = ("admin@example.com", "admin-password")


def admin_token(client: httpx.Client) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def is_the_functions_answer(response: httpx.Response) -> bool:
    """The app sets these on every answer; the gateway's own refusals carry none of them."""
    return bool(response.headers.get("x-content-type-options") == "nosniff")


@pytest.fixture(scope="module")
def unchanged(
    sandbox_assembly: Path, offline_services: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    with running_sandbox(
        sandbox_assembly, tmp_path_factory.mktemp("unchanged"), offline_url=offline_services
    ) as running:
        yield running


def test_a_protected_route_that_lost_its_authorizer_reaches_the_function_unverified(
    unchanged: RunningSandbox, served_copy: ServedCopy
) -> None:
    def no_authorizer(template: dict[str, Any]) -> None:
        route = route_properties(template, "GET /v1/admin/endpoints")
        route["AuthorizationType"] = "NONE"
        del route["AuthorizerId"]

    changed = served_copy(no_authorizer)
    with httpx.Client(base_url=unchanged.base_url, timeout=30) as before:
        token = admin_token(before)
        refused_at_the_gateway = before.get("/v1/admin/endpoints")
        allowed = before.get("/v1/admin/endpoints", headers=token)
    with httpx.Client(base_url=changed.base_url, timeout=30) as after:
        without_token = after.get("/v1/admin/endpoints")
        with_token = after.get("/v1/admin/endpoints", headers=token)

    assert (refused_at_the_gateway.status_code, is_the_functions_answer(refused_at_the_gateway)) == (401, False)
    assert allowed.status_code == 200
    # Now the request reaches the function with no verdict, and the function fails closed:
    # even the admin's valid token no longer opens the route.
    assert (without_token.status_code, is_the_functions_answer(without_token)) == (401, True)
    assert (with_token.status_code, is_the_functions_answer(with_token)) == (401, True)


def test_a_route_whose_scopes_changed_refuses_the_tokens_it_accepted(
    unchanged: RunningSandbox, served_copy: ServedCopy, offline_services_dir: Path
) -> None:
    route = a_scoped_route()
    declared = app_declares_a_scoped_route()

    def other_scope(template: dict[str, Any]) -> None:
        if not declared:
            with_throwaway_route(template)
        route_properties(template, f"{route.method} {route.path}")["AuthorizationScopes"] = [UNDECLARED_SCOPE]

    # Where the app has no scoped route, the gateway gets the throwaway (the function answers it 404).
    original = unchanged if declared else served_copy(with_throwaway_route)
    changed = served_copy(other_scope)
    token = offline_bearer(offline_services_dir, caller_of(route))
    with httpx.Client(base_url=original.base_url, timeout=30) as before:
        allowed = before.get(route.path, headers=token)
    with httpx.Client(base_url=changed.base_url, timeout=30) as after:
        refused = after.get(route.path, headers=token)

    assert allowed.status_code == (200 if declared else 404)
    assert is_the_functions_answer(allowed)
    assert refused.status_code == 403
    assert refused.json() == {"message": "Forbidden"}
    assert not is_the_functions_answer(refused)


def test_a_stage_renamed_in_the_template_alone_moves_the_api_and_the_function_no_longer_routes_it(
    unchanged: RunningSandbox, served_copy: ServedCopy
) -> None:
    def renamed_stage(template: dict[str, Any]) -> None:
        (stage,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
        stage["Properties"]["StageName"] = "v2"

    changed = served_copy(renamed_stage)
    with httpx.Client(base_url=changed.origin, timeout=30) as client:
        old_stage = client.get(f"/{STAGE}/v1/manage/hc")
        new_stage = client.get("/v2/v1/manage/hc")
    with httpx.Client(base_url=unchanged.origin, timeout=30) as client:
        before = client.get(f"/{STAGE}/v1/manage/hc")

    assert before.status_code == 200
    assert old_stage.status_code == 404
    assert old_stage.json() == {"message": "Not Found"}  # the gateway's: no such stage
    # The gateway routes it, but the function still expects the stage it was configured with.
    assert new_stage.status_code == 404
    assert is_the_functions_answer(new_stage)
    assert new_stage.headers["content-type"] == "application/problem+json"


def test_cors_added_to_the_api_is_answered_by_the_gateway(unchanged: RunningSandbox, served_copy: ServedCopy) -> None:
    def with_cors(template: dict[str, Any]) -> None:
        (api,) = resources(template, "AWS::ApiGatewayV2::Api").values()
        api["Properties"]["CorsConfiguration"] = {
            "AllowOrigins": ["https://app.example.com"],
            "AllowMethods": ["GET", "POST", "OPTIONS"],
            "AllowHeaders": ["authorization", "content-type"],
            "MaxAge": 3600,
        }

    changed = served_copy(with_cors)
    preflight = {"origin": "https://app.example.com", "access-control-request-method": "GET"}
    with httpx.Client(base_url=unchanged.base_url, timeout=30) as before:
        no_cors = before.options("/v1/users/whoami", headers=preflight)
    with httpx.Client(base_url=changed.base_url, timeout=30) as after:
        answered = after.options("/v1/users/whoami", headers=preflight)
        simple = after.get("/v1/manage/hc", headers={"origin": "https://app.example.com"})

    assert no_cors.status_code == 404
    assert answered.status_code == 204
    assert answered.headers["access-control-allow-origin"] == "https://app.example.com"
    assert answered.headers["access-control-max-age"] == "3600"
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"


def test_the_stages_throttling_comes_from_the_template(served_copy: ServedCopy) -> None:
    def one_request_at_most(template: dict[str, Any]) -> None:
        (stage,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
        stage["Properties"]["DefaultRouteSettings"] = {"ThrottlingBurstLimit": 1, "ThrottlingRateLimit": 0.001}

    changed = served_copy(one_request_at_most)
    with httpx.Client(base_url=changed.base_url, timeout=30) as client:
        first, second = client.get("/v1/manage/hc"), client.get("/v1/manage/hc")

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json() == {"message": "Too Many Requests"}
