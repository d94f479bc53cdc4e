"""The HTTP API stand-in (tests/support_gateway.py) plays API Gateway faithfully.

The browser tests trust it to present the Lambda app as AWS does; these hold it to the facts
in the brief: routes only as declared, the stage or mapping key in front, the authorizer's
refusals and verdict, and payload 2.0 events both ways.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.core.access.local_authorizer import LocalAuthorizer
from service.core.identity.local import DEMO_USERS, LocalIssuer, LocalUser
from service.core.settings import IdentityProviderName, Runtime, Settings
from tests.support_gateway import (
    CUSTOM_DOMAIN,
    EXECUTE_API_DOMAIN,
    HttpApiEmulator,
    LambdaFunction,
    LambdaInvoker,
    PublicAddress,
    gateway_routes,
)

ADMIN, USER = DEMO_USERS
OK_ANSWER: dict[str, Any] = {
    "statusCode": 200,
    "headers": {"content-type": "application/json"},
    "body": "{}",
    "isBase64Encoded": False,
}


class RecordingFunction:
    """A function that keeps every event it is given and answers `answer`, or crashes."""

    def __init__(self, answer: dict[str, Any] | None = None, *, crash: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer or OK_ANSWER
        self.crash = crash

    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        if self.crash:
            raise RuntimeError("the function crashed")
        return self.answer


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalIssuer:
    key_file = tmp_path_factory.mktemp("issuer") / "key.pem"
    return LocalIssuer.from_settings(Settings(local_idp_key_file=key_file))


@pytest.fixture(scope="module")
def lambda_settings() -> Settings:
    # The token endpoint is never called here; the function only needs a valid provider.
    return Settings(
        runtime=Runtime.LAMBDA,
        identity_provider=IdentityProviderName.OIDC,
        oidc_client_id="fastapi-lambda-tests",
        oidc_token_url="http://127.0.0.1:9/token",
        aws_api_gw_stage_name="mvp",
        aws_api_gw_mapping_key="shop",
    )


def make_emulator(
    settings: Settings,
    issuer: LocalIssuer,
    function: LambdaInvoker,
    *,
    domain_name: str = EXECUTE_API_DOMAIN,
    mapping_key_in_raw_path: bool = True,
) -> HttpApiEmulator:
    return HttpApiEmulator(
        function=function,
        routes=gateway_routes(settings),
        authorizer=LocalAuthorizer(issuer=issuer.issuer, audiences=[issuer.audience], keys=issuer),
        address=PublicAddress.for_settings(
            settings, domain_name=domain_name, mapping_key_in_raw_path=mapping_key_in_raw_path
        ),
    )


def bearer(issuer: LocalIssuer, user: LocalUser) -> dict[str, str]:
    return {"authorization": f"Bearer {issuer.issue_tokens(user).access_token}"}


@pytest.fixture
def function() -> RecordingFunction:
    return RecordingFunction()


@pytest.fixture
def client(lambda_settings: Settings, issuer: LocalIssuer, function: RecordingFunction) -> Iterator[TestClient]:
    with TestClient(make_emulator(lambda_settings, issuer, function)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/mvp/v1/unknown"),
        ("GET", "/v1/manage/hc"),  # without the stage
        ("GET", "/mvpx/v1/manage/hc"),  # the stage is a whole segment
        ("DELETE", "/mvp/v1/manage/hc"),  # no such route for that method
    ],
)
def test_only_declared_routes_under_the_stage_reach_the_function(
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


def test_a_token_without_the_routes_scope_is_the_gateways_403(
    client: TestClient, function: RecordingFunction, issuer: LocalIssuer
) -> None:
    response = client.get("/mvp/v1/items", headers=bearer(issuer, USER))

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert function.events == []


def test_the_authorizers_verdict_reaches_the_function_as_strings(
    client: TestClient, function: RecordingFunction, issuer: LocalIssuer
) -> None:
    client.get("/mvp/v1/users/whoami", headers=bearer(issuer, ADMIN))
    client.get("/mvp/v1/items", headers=bearer(issuer, ADMIN))

    whoami, items = (event["requestContext"]["authorizer"]["jwt"] for event in function.events)
    assert whoami["claims"]["groups"] == "[ADMINS USERS]"
    assert whoami["claims"]["sub"] == ADMIN.username
    assert whoami["scopes"] is None  # a route without scopes gets none
    assert items["scopes"] == ["items:read"]


@pytest.mark.parametrize(("key_in_raw_path", "raw_path"), [(True, "/shop/v1/manage/hc"), (False, "/v1/manage/hc")])
def test_behind_a_custom_domain_the_mapping_key_prefixes_the_url(
    lambda_settings: Settings, issuer: LocalIssuer, key_in_raw_path: bool, raw_path: str
) -> None:
    function = RecordingFunction()
    emulator = make_emulator(
        lambda_settings, issuer, function, domain_name=CUSTOM_DOMAIN, mapping_key_in_raw_path=key_in_raw_path
    )
    with TestClient(emulator) as client:
        assert client.get("/mvp/v1/manage/hc").status_code == 404
        assert client.get("/shop/v1/manage/hc").status_code == 200

    [event] = function.events
    assert event["rawPath"] == raw_path
    assert event["requestContext"]["domainName"] == CUSTOM_DOMAIN


def test_the_functions_answer_becomes_the_http_response(lambda_settings: Settings, issuer: LocalIssuer) -> None:
    answer = {
        "statusCode": 201,
        "headers": {"content-type": "application/octet-stream", "x-answer": "yes"},
        "cookies": ["a=1; Path=/", "b=2; Path=/"],
        "body": base64.b64encode(b"\x00\x01binary").decode(),
        "isBase64Encoded": True,
    }
    with TestClient(make_emulator(lambda_settings, issuer, RecordingFunction(answer))) as client:
        response = client.get("/mvp/v1/manage/hc")

    assert response.status_code == 201
    assert response.content == b"\x00\x01binary"
    assert response.headers["x-answer"] == "yes"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]


def test_a_crashing_function_is_the_gateways_500(lambda_settings: Settings, issuer: LocalIssuer) -> None:
    with TestClient(make_emulator(lambda_settings, issuer, RecordingFunction(crash=True))) as client:
        response = client.get("/mvp/v1/manage/hc")

    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_the_real_lambda_handler_serves_the_prefixed_docs_and_the_callers_claims(
    lambda_settings: Settings, issuer: LocalIssuer
) -> None:
    with TestClient(make_emulator(lambda_settings, issuer, LambdaFunction(lambda_settings))) as client:
        document = client.get("/mvp/v1/openapi.json").json()
        whoami = client.get("/mvp/v1/users/whoami", headers=bearer(issuer, ADMIN))

    assert document["servers"] == [{"url": "/mvp"}]
    token_urls = {
        scheme["flows"]["password"]["tokenUrl"] for scheme in document["components"]["securitySchemes"].values()
    }
    assert token_urls == {"/mvp/v1/auth/token"}
    assert whoami.status_code == 200
    assert whoami.json()["groups"] == ["ADMINS", "USERS"]
