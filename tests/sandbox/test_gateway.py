"""The sandbox's HTTP API plays API Gateway faithfully, from the synthesized template alone.

The browser and end-to-end tests trust it to present the function as AWS does; these hold it
to the facts in the brief, in process, with a function that records what it is given: routes
only as the template declares them, the stage or mapping key in front, the authorizer's
refusals and verdict, payload 2.0 events both ways, and API Gateway's limits.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from infra.routes import http_api_path
from sandbox.assembly import Cors, HttpApi, Throttle, load_http_api
from sandbox.gateway import (
    DEFAULT_RAW_PATH_SHAPE,
    EXECUTE_API_DOMAIN,
    HttpApiGateway,
    PublicAddress,
    TokenBucket,
    build_authorizers,
)
from sandbox.runtime_api import Outcome
from service.core.access.declaration import KNOWN_SCOPES
from service.core.identity.local import LocalIssuer, LocalUser, demo_users
from service.core.settings import Settings
from tests.declared import a_scoped_route, app_declares_a_scoped_route, caller_of, declared_routes
from tests.support_sandbox import CUSTOM_DOMAIN

# As the sandbox's issuer holds them: the admin with every scope the app declares.
ADMIN, USER = demo_users(admin_scopes=tuple(KNOWN_SCOPES))
OK_ANSWER: dict[str, Any] = {
    "statusCode": 200,
    "headers": {"content-type": "application/json"},
    "body": "{}",
    "isBase64Encoded": False,
}


class RecordingFunction:
    """A function that keeps every event it is given and answers `answer`, fails, or takes its time."""

    def __init__(self, answer: Any = None, *, error: str | None = None, delay_seconds: float = 0.0) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = OK_ANSWER if answer is None else answer
        self.error = error
        self.delay_seconds = delay_seconds

    async def invoke(self, event: bytes) -> Outcome:
        import asyncio

        self.events.append(json.loads(event))
        await asyncio.sleep(self.delay_seconds)
        if self.error is not None:
            return Outcome(request_id="r", error_type=self.error, error_message="it failed")
        return Outcome(request_id="r", payload=json.dumps(self.answer).encode())


@pytest.fixture(scope="module")
def api(sandbox_assembly: Path) -> HttpApi:
    return load_http_api(sandbox_assembly)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalIssuer:
    # The template's authorizer trusts the embedded issuer's name and audience, whoever holds the key.
    return LocalIssuer.from_settings(Settings(local_idp_key_file=tmp_path_factory.mktemp("issuer") / "key.pem"))


def make_gateway(
    api: HttpApi,
    issuer: LocalIssuer,
    function: RecordingFunction,
    *,
    domain: str | None = None,
    raw_path: str = DEFAULT_RAW_PATH_SHAPE,
    access_log: Callable[[str], None] | None = None,
) -> HttpApiGateway:
    address = (
        PublicAddress.execute_api(api)
        if domain is None
        else PublicAddress.custom_domain(api, api.custom_domain(domain), raw_path=raw_path)
    )
    return HttpApiGateway(
        api=api,
        address=address,
        functions={f.logical_id: function for f in api.functions},
        authorizers=build_authorizers(api, lambda _: issuer),
        access_log=access_log,
    )


def with_routes(api: HttpApi, **changes: Any) -> HttpApi:
    return dataclasses.replace(api, routes=tuple(dataclasses.replace(route, **changes) for route in api.routes))


def bearer(issuer: LocalIssuer, user: LocalUser) -> dict[str, str]:
    return {"authorization": f"Bearer {issuer.issue_tokens(user).access_token}"}


@pytest.fixture
def function() -> RecordingFunction:
    return RecordingFunction()


@pytest.fixture
def client(api: HttpApi, issuer: LocalIssuer, function: RecordingFunction) -> Iterator[TestClient]:
    with TestClient(make_gateway(api, issuer, function)) as test_client:
        yield test_client


def test_the_routes_are_the_templates(api: HttpApi) -> None:
    keys = {route.route_key: route for route in api.routes}

    for route in declared_routes():
        key = f"{route.method} {http_api_path(route.path)}"
        assert key in keys
        assert (keys[key].authorizer is None) is route.public, key
        assert keys[key].scopes == route.scopes, key
    assert api.stage_name == "mvp"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/mvp/v1/unknown"),
        ("GET", "/v1/manage/hc"),  # without the stage
        ("GET", "/mvpx/v1/manage/hc"),  # the stage is a whole segment
        ("DELETE", "/mvp/v1/manage/hc"),  # no such route for that method
        ("GET", "/mvp/v1/manage/hc/"),  # one explicit route per operation
    ],
)
def test_only_the_templates_routes_under_the_stage_reach_the_function(
    client: TestClient, function: RecordingFunction, method: str, path: str
) -> None:
    response = client.request(method, path)

    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
    assert function.events == []


def test_a_form_post_becomes_a_payload_2_event_with_the_stage_in_raw_path(
    client: TestClient, function: RecordingFunction
) -> None:
    client.post(
        "/mvp/v1/auth/token?tag=a&tag=b",
        data={"username": "someone", "password": "secret"},
        headers={"X-Trace": "one", "Cookie": "a=1; b=2"},
    )

    [event] = function.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /v1/auth/token"
    assert event["rawPath"] == "/mvp/v1/auth/token"
    assert event["rawQueryString"] == "tag=a&tag=b"
    assert event["queryStringParameters"] == {"tag": "a,b"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-trace"] == "one"
    assert event["headers"]["host"] == EXECUTE_API_DOMAIN
    assert event["headers"]["x-forwarded-proto"] == "https"
    assert "cookie" not in event["headers"]
    context = event["requestContext"]
    assert context["domainName"] == EXECUTE_API_DOMAIN
    assert context["stage"] == "mvp"
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == "/mvp/v1/auth/token"
    assert "authorizer" not in context
    # Not text, so the HTTP API hands it over base64-encoded.
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"username=someone&password=secret"


def test_a_json_body_arrives_as_text(client: TestClient, function: RecordingFunction) -> None:
    client.post("/mvp/v1/auth/token", json={"grant_type": "password"})

    [event] = function.events
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"grant_type": "password"}


def test_an_event_over_lambdas_6_mb_never_reaches_the_function(client: TestClient, function: RecordingFunction) -> None:
    response = client.post(
        "/mvp/v1/auth/token", content=b"x" * (6 * 1024 * 1024), headers={"content-type": "text/plain"}
    )

    assert response.status_code == 413
    assert response.json() == {"message": "Request Entity Too Large"}
    assert function.events == []


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt"])
def test_the_authorizer_refuses_a_missing_or_bad_token_before_the_function(
    client: TestClient, function: RecordingFunction, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = client.get("/mvp/v1/users/whoami", headers=headers)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert function.events == []


@pytest.fixture
def scoped_client(api: HttpApi, issuer: LocalIssuer, function: RecordingFunction) -> Iterator[TestClient]:
    """The gateway with a scoped GET route: the app's, else the throwaway (`tests/declared.py`) added to its routes."""
    if not app_declares_a_scoped_route():
        protected = next(route for route in api.routes if route.authorizer is not None)
        route = a_scoped_route()
        throwaway = dataclasses.replace(protected, route_key=f"{route.method} {route.path}", scopes=route.scopes)
        api = dataclasses.replace(api, routes=(*api.routes, throwaway))
    with TestClient(make_gateway(api, issuer, function)) as test_client:
        yield test_client


def test_a_token_without_the_routes_scope_is_the_gateways_403(
    scoped_client: TestClient, function: RecordingFunction, issuer: LocalIssuer
) -> None:
    # In the route's group, but without its scope: the gateway refuses it before the function.
    response = scoped_client.get(
        "/mvp" + a_scoped_route().path, headers=bearer(issuer, caller_of(a_scoped_route(), scopes=()))
    )

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert function.events == []


def test_the_authorizers_verdict_reaches_the_function_as_strings(
    scoped_client: TestClient, function: RecordingFunction, issuer: LocalIssuer
) -> None:
    route = a_scoped_route()
    caller = caller_of(route, groups=("ADMINS", "USERS"))
    scoped_client.get("/mvp/v1/users/whoami", headers=bearer(issuer, caller))
    scoped_client.get("/mvp" + route.path, headers=bearer(issuer, caller))

    whoami, scoped = (event["requestContext"]["authorizer"]["jwt"] for event in function.events)
    assert whoami["claims"]["groups"] == "[ADMINS USERS]"
    assert whoami["claims"]["sub"] == caller.username
    assert whoami["scopes"] is None  # a route without scopes gets none
    assert scoped["scopes"] == list(route.scopes)


@pytest.mark.parametrize(
    ("shape", "raw_path"), [("none", "/v1/manage/hc"), ("stage", "/mvp/v1/manage/hc"), ("key", "/shop/v1/manage/hc")]
)
def test_behind_the_custom_domain_the_mapping_key_prefixes_the_url(
    api: HttpApi, issuer: LocalIssuer, shape: str, raw_path: str
) -> None:
    function = RecordingFunction()
    gateway = make_gateway(api, issuer, function, domain=CUSTOM_DOMAIN, raw_path=shape)
    with TestClient(gateway) as client:
        assert client.get("/mvp/v1/manage/hc").status_code == 404
        assert client.get("/shop/v1/manage/hc").status_code == 200

    [event] = function.events
    assert event["rawPath"] == raw_path
    assert event["requestContext"]["domainName"] == CUSTOM_DOMAIN
    assert event["requestContext"]["stage"] == "mvp"


def test_a_domain_the_template_does_not_map_is_refused(api: HttpApi) -> None:
    with pytest.raises(Exception, match=r"other\.example\.com: not a custom domain of this API"):
        api.custom_domain("other.example.com")


def test_the_functions_answer_becomes_the_http_response(api: HttpApi, issuer: LocalIssuer) -> None:
    answer = {
        "statusCode": 201,
        "headers": {"content-type": "application/octet-stream", "x-answer": "yes"},
        "cookies": ["a=1; Path=/", "b=2; Path=/"],
        "body": base64.b64encode(b"\x00\x01binary").decode(),
        "isBase64Encoded": True,
    }
    with TestClient(make_gateway(api, issuer, RecordingFunction(answer))) as client:
        response = client.get("/mvp/v1/manage/hc")

    assert response.status_code == 201
    assert response.content == b"\x00\x01binary"
    assert response.headers["x-answer"] == "yes"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]


def test_an_answer_without_status_code_is_a_200_with_that_json(api: HttpApi, issuer: LocalIssuer) -> None:
    with TestClient(make_gateway(api, issuer, RecordingFunction({"hello": "world"}))) as client:
        response = client.get("/mvp/v1/manage/hc")

    assert response.status_code == 200
    assert response.json() == {"hello": "world"}


@pytest.mark.parametrize("error", ["Runtime.ExitError", "Sandbox.Timedout", "SettingsError"])
def test_a_failed_invocation_is_the_gateways_500(api: HttpApi, issuer: LocalIssuer, error: str) -> None:
    with TestClient(make_gateway(api, issuer, RecordingFunction(error=error))) as client:
        response = client.get("/mvp/v1/manage/hc")

    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_an_integration_that_outlasts_its_timeout_is_the_gateways_503(api: HttpApi, issuer: LocalIssuer) -> None:
    slow = RecordingFunction(delay_seconds=2.0)
    with TestClient(make_gateway(with_routes(api, integration_timeout_seconds=0.2), issuer, slow)) as client:
        response = client.get("/mvp/v1/manage/hc")

    assert response.status_code == 503
    assert response.json() == {"message": "Service Unavailable"}


def test_the_stages_throttling_refuses_with_429(api: HttpApi, issuer: LocalIssuer, function: RecordingFunction) -> None:
    throttled = with_routes(api, throttle=Throttle(rate_limit=0.001, burst_limit=2))
    with TestClient(make_gateway(throttled, issuer, function)) as client:
        statuses = [client.get("/mvp/v1/manage/hc").status_code for _ in range(3)]
        refused = client.get("/mvp/v1/manage/hc")

    assert statuses == [200, 200, 429]
    assert refused.json() == {"message": "Too Many Requests"}
    assert len(function.events) == 2


def test_a_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=1, clock=lambda: now[0])

    assert bucket.take()
    assert not bucket.take()
    now[0] += 0.5
    assert bucket.take()


def test_cors_is_answered_from_the_apis_configuration(
    api: HttpApi, issuer: LocalIssuer, function: RecordingFunction
) -> None:
    cors = Cors(
        allow_origins=("https://app.example.com",),
        allow_methods=("GET", "POST"),
        allow_headers=("authorization",),
        expose_headers=(),
        max_age_seconds=600,
        allow_credentials=False,
    )
    preflight = {"access-control-request-method": "GET", "access-control-request-headers": "authorization"}
    with TestClient(make_gateway(dataclasses.replace(api, cors=cors), issuer, function)) as client:
        allowed = client.options("/mvp/v1/users/whoami", headers={"origin": "https://app.example.com", **preflight})
        refused = client.options("/mvp/v1/users/whoami", headers={"origin": "https://evil.example.com", **preflight})
        simple = client.get("/mvp/v1/manage/hc", headers={"origin": "https://app.example.com"})

    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert allowed.headers["access-control-allow-methods"] == "GET,POST"
    assert allowed.headers["access-control-max-age"] == "600"
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    assert len(function.events) == 1  # preflights never reach the function


def test_without_cors_a_preflight_is_just_a_request_no_route_serves(client: TestClient) -> None:
    response = client.options(
        "/mvp/v1/users/whoami", headers={"origin": "https://app.example.com", "access-control-request-method": "GET"}
    )

    assert response.status_code == 404


def test_each_request_writes_one_access_log_line_in_the_stages_format(
    api: HttpApi, issuer: LocalIssuer, function: RecordingFunction
) -> None:
    lines: list[str] = []
    with TestClient(make_gateway(api, issuer, function, access_log=lines.append)) as client:
        client.get("/mvp/v1/manage/hc")
        client.get("/mvp/v1/users/whoami")

    health, whoami = (json.loads(line) for line in lines)
    assert (health["routeKey"], health["status"], health["integrationStatus"]) == ("GET /v1/manage/hc", "200", "200")
    assert (whoami["status"], whoami["integrationStatus"]) == ("401", "-")
    assert whoami["authorizerError"] != "-"
    assert set(health) == set(json.loads(api.access_log_format or "{}"))
