"""Malformed and hostile input gets a clear answer, never a traceback, never a way in."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from service.app import create_app
from service.core.middleware import ApiEdge
from service.runtime.lambda_adapter import RUNTIME_ESCAPES_NON_ASCII, build_handler, over_payload_limit
from tests.service.conftest import ADMIN, TokenForger, password_grant
from tests.service.test_lambda_handler import FakeContext, lambda_settings
from tests.support import assert_oauth_error, load_event

HANDLER = build_handler(lambda_settings())


def invoke(event: Any) -> tuple[int, dict[str, str], str]:
    result = HANDLER(event, FakeContext())
    return result["statusCode"], result.get("headers", {}), result.get("body", "")


def mutated(name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    event = copy.deepcopy(load_event(name))
    change(event)
    return event


MALFORMED_EVENTS = {
    "no requestContext": lambda e: e.pop("requestContext"),
    "no http": lambda e: e["requestContext"].pop("http"),
    "no sourceIp": lambda e: e["requestContext"]["http"].pop("sourceIp"),
    "no rawPath": lambda e: e.pop("rawPath"),
    "method not a string": lambda e: e["requestContext"]["http"].update(method=7),
    "header value not a string": lambda e: e["headers"].update({"x-n": 1}),
    "headers a list": lambda e: e.update(headers=["a"]),
    "query not a string": lambda e: e.update(rawQueryString={"a": "b"}),
    "cookies not a list": lambda e: e.update(cookies="a=b"),
    "body not a string": lambda e: e.update(body={"a": "b"}),
    "body not base64": lambda e: e.update(body="%%% not base64 %%%", isBase64Encoded=True),
}


@pytest.mark.parametrize("change", MALFORMED_EVENTS.values(), ids=MALFORMED_EVENTS.keys())
def test_a_malformed_event_gets_a_clear_400_and_one_log_line(
    change: Callable[[dict[str, Any]], None], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        status, headers, body = invoke(mutated("health_named_stage.json", change))
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "unsupported_event"
    assert "Traceback" not in caplog.text
    assert [r.levelname for r in caplog.records if r.name.startswith("service")] == ["ERROR"]


def test_a_valid_base64_body_is_decoded() -> None:
    form = base64.b64encode(b"username=nobody%40example.com&password=x").decode()

    def to_token_post(e: dict[str, Any]) -> None:
        e["rawPath"] = e["requestContext"]["http"]["path"] = "/mvp/v1/auth/token"
        e["requestContext"]["http"]["method"] = "POST"
        e["headers"]["content-type"] = "application/x-www-form-urlencoded"
        e.update(body=form, isBase64Encoded=True)

    # The Firebase provider is not reachable from tests: what matters is that the form was read
    # (an unread one would be refused as invalid_request before any provider is asked).
    _, _, body = invoke(mutated("health_named_stage.json", to_token_post))
    assert json.loads(body)["error"] != "invalid_request", body


@pytest.mark.parametrize("declared_length", [True, False], ids=["content-length", "no-content-length"])
def test_a_huge_body_is_refused_with_413(declared_length: bool, caplog: pytest.LogCaptureFixture) -> None:
    body = "username=" + "a" * (2 * 1024 * 1024)

    def huge_token_post(e: dict[str, Any]) -> None:
        e["rawPath"] = e["requestContext"]["http"]["path"] = "/mvp/v1/auth/token"
        e["requestContext"]["http"]["method"] = "POST"
        e["headers"]["content-type"] = "application/x-www-form-urlencoded"
        e["headers"].pop("content-length")
        if declared_length:
            e["headers"]["content-length"] = str(len(body))
        e["body"] = body

    with caplog.at_level(logging.DEBUG):
        status, headers, answer = invoke(mutated("health_named_stage.json", huge_token_post))
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(answer)["code"] == "content_too_large"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "raw_path",
    [
        "/mvp/v1/users%2Fwhoami",
        "/mvp/v1/manage/hc/../../users/whoami",
        "/mvp/v1/manage/%2e%2e/users/whoami",
        "/mvp/v1/users/whoami/",
        "/mvp//v1/users/whoami",
        "/mvp/v1/users/./whoami",
    ],
)
def test_tricky_paths_without_authorizer_context_never_reach_claims(raw_path: str) -> None:
    """Whatever the gateway routed, a protected route without the authorizer's verdict refuses."""

    def retarget(e: dict[str, Any]) -> None:
        e["rawPath"] = e["requestContext"]["http"]["path"] = raw_path

    status, _, body = invoke(mutated("health_named_stage.json", retarget))
    assert status in {401, 404}, body
    assert "sub" not in body


def test_an_oversized_token_is_refused_locally(client: TestClient) -> None:
    response = client.get("/v1/users/whoami", headers={"Authorization": "Bearer " + "a" * 65536})
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


@pytest.mark.parametrize(
    "content_length",
    ["9" * 5000, "1" + "0" * 4300, "9" * 19],
    ids=["5,000 digits", "4,301 digits", "19 digits"],
)
def test_a_content_length_of_more_digits_than_any_body_is_a_413_problem(
    content_length: str, caplog: pytest.LogCaptureFixture
) -> None:
    def declared(e: dict[str, Any]) -> None:
        e["rawPath"] = e["requestContext"]["http"]["path"] = "/mvp/v1/auth/token"
        e["requestContext"]["http"]["method"] = "POST"
        e["headers"].update({"content-type": "application/x-www-form-urlencoded", "content-length": content_length})
        e["body"] = "username=a&password=b"

    with caplog.at_level(logging.DEBUG):
        status, headers, body = invoke(mutated("health_named_stage.json", declared))
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "content_too_large"
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_leading_zeros_do_not_make_a_content_length_large() -> None:
    def declared(e: dict[str, Any]) -> None:
        e["rawPath"] = e["requestContext"]["http"]["path"] = "/mvp/v1/auth/token"
        e["requestContext"]["http"]["method"] = "POST"
        e["headers"].update({"content-type": "application/x-www-form-urlencoded", "content-length": "0" * 5000 + "2"})
        e["body"] = "x="

    status, _, body = invoke(mutated("health_named_stage.json", declared))
    # Not refused for its size: the form is read, and found wanting.
    assert (status, json.loads(body)["error"]) == (400, "invalid_request"), body


def handler_serving(route: Callable[[], Response]) -> Callable[[], dict[str, Any]]:
    """A Lambda handler whose app also serves `route` at /v1/probe; returns a function invoking it."""
    settings = lambda_settings()
    app = create_app(settings)
    app.add_api_route("/v1/probe", route)
    handler = build_handler(settings, app=app)
    event = mutated("health_named_stage.json", lambda e: e.update(rawPath="/mvp/v1/probe"))
    event["requestContext"]["http"]["path"] = "/mvp/v1/probe"
    return lambda: handler(event, FakeContext())


# Lambda refuses a response whose JSON text is over 6 MB, as its runtime writes it.
LAMBDA_LIMIT = 6 * 1024 * 1024


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"x" * (7 * 1024 * 1024), "text/plain"),
        # On a runtime that escapes non-ASCII (python3.11): 2.2 MB of UTF-8 in 1.1 M characters,
        # each written as a 6-byte escape (6.6 MB); on a later one, 6.6 MB of UTF-8.
        ("é".encode() * (1_100_000 if RUNTIME_ESCAPES_NON_ASCII else 3_300_000), "text/plain; charset=utf-8"),
        # 2.4 MB of UTF-8 in 600 k characters, each written as a 12-byte surrogate pair (7.2 MB);
        # or 7.2 MB of UTF-8.
        ("😀".encode() * (600_000 if RUNTIME_ESCAPES_NON_ASCII else 1_800_000), "text/plain; charset=utf-8"),
        # 3.3 M quotes in a JSON document, each written escaped in two bytes (6.6 MB).
        (b'"' * 3_300_000, "application/json"),
        # 4.8 MB of binary, which travels as 6.4 MB of base64.
        (bytes(range(256)) * (4_800_000 // 256), "application/octet-stream"),
    ],
    ids=["ascii", "two-byte characters", "four-byte characters", "escaped quotes", "binary as base64"],
)
def test_a_response_over_lambdas_limit_as_lambda_counts_it_becomes_a_clear_500(
    body: bytes, media_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    invoke_probe = handler_serving(lambda: Response(body, media_type=media_type))
    with caplog.at_level(logging.DEBUG):
        result = invoke_probe()
    assert result["statusCode"] == 500
    assert json.loads(result["body"])["code"] == "response_too_large"
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"x" * 6_000_000, "text/plain"),
        ("é".encode() * 1_000_000, "text/plain; charset=utf-8"),
        (bytes(range(256)) * (4_400_000 // 256), "application/octet-stream"),
    ],
    ids=["ascii", "two-byte characters", "binary as base64"],
)
def test_a_response_within_lambdas_limit_is_served(body: bytes, media_type: str) -> None:
    result = handler_serving(lambda: Response(body, media_type=media_type))()
    assert result["statusCode"] == 200
    assert len(json.dumps(result)) <= LAMBDA_LIMIT


@pytest.mark.parametrize(
    ("escapes_non_ascii", "text", "over"),
    [
        # 1.1 M two-byte characters: 6.6 MB escaped, 2.2 MB as UTF-8.
        (True, "é" * 1_100_000, True),
        (False, "é" * 1_100_000, False),
        # 600 k characters outside the Basic Multilingual Plane: 7.2 MB escaped, 2.4 MB as UTF-8.
        (True, "😀" * 600_000, True),
        (False, "😀" * 600_000, False),
        (False, "😀" * 1_800_000, True),
        # Control characters are escaped either way (6 bytes each).
        (False, "\x01" * 1_100_000, True),
    ],
)
def test_the_limit_is_measured_as_each_runtime_writes_its_answer(
    escapes_non_ascii: bool, text: str, over: bool
) -> None:
    # python3.11's runtime client writes non-ASCII as escapes; python3.12 and later's as UTF-8.
    response = {"statusCode": 200, "headers": {}, "body": text, "isBase64Encoded": False}
    assert over_payload_limit(response, escapes_non_ascii=escapes_non_ascii) is over


def test_the_body_limit_is_configurable_and_answers_413(make_local_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_local_app(max_request_body_bytes=64)) as client:
        response = client.post("/v1/auth/token", data={"username": "u" * 100, "password": "p"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert password_grant(client, *ADMIN)["access_token"]


def test_a_body_over_the_limit_is_413_even_where_nothing_handles_the_aborted_read() -> None:
    async def reads_the_body(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await PlainTextResponse("read it all")(scope, receive, send)

    # Not as a context manager: this bare app speaks HTTP only, no lifespan.
    client = TestClient(ApiEdge(reads_the_body, max_bytes=8), raise_server_exceptions=False)
    # A generator body goes out chunked, without a content-length to refuse up front.
    response = client.post("/", content=(chunk for chunk in [b"x" * 16]))
    assert response.status_code == 413
    assert response.json()["code"] == "content_too_large"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_unexpected_error_is_a_bare_500_without_traceback(
    make_local_app: Callable[..., FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_local_app()

    @app.get("/v1/explode")
    async def explode() -> None:
        raise RuntimeError("database password is hunter2")

    with caplog.at_level(logging.DEBUG), TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/explode")
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "hunter2" not in response.text
    assert "hunter2" not in caplog.text
    assert "Traceback" not in caplog.text
    # One line, whose message (all make dev's log shows) names the error's type, never its text.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == ["unhandled error: RuntimeError"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_security_headers_on_every_kind_of_answer(client: TestClient) -> None:
    for response in (client.get("/v1/manage/hc"), client.get("/v1/users/whoami"), client.get("/v1/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


def test_cors_answers_only_configured_origins(make_local_app: Callable[..., FastAPI]) -> None:
    app = make_local_app(cors_allow_origins="https://app.example.com")
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    with TestClient(app) as client:
        allowed = client.options("/v1/users/whoami", headers={"Origin": "https://app.example.com", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        refused = client.options("/v1/users/whoami", headers={"Origin": "https://evil.example.com", **preflight})
        assert "access-control-allow-origin" not in refused.headers
        simple = client.get("/v1/manage/hc", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in simple.headers


def test_no_cors_headers_when_no_origin_is_configured(client: TestClient) -> None:
    response = client.get("/v1/manage/hc", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in response.headers


def test_logs_never_carry_passwords_or_tokens(
    client: TestClient, forger: TokenForger, caplog: pytest.LogCaptureFixture
) -> None:
    forged = forger.token(aud="someone-else")
    with caplog.at_level(logging.DEBUG):
        tokens = password_grant(client, *ADMIN)
        client.post("/v1/auth/token", data={"username": ADMIN[0], "password": "wrong-password-123"})
        client.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        client.get("/v1/users/whoami", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        client.get("/v1/users/whoami", headers={"Authorization": f"Bearer {forged}"})
    secrets = [ADMIN[1], "wrong-password-123", tokens["access_token"], tokens["refresh_token"], forged]
    for secret in secrets:
        assert secret not in caplog.text
    # The signature part alone must not leak either.
    for token in (tokens["access_token"], forged):
        assert token.rsplit(".", 1)[1] not in caplog.text


def test_locally_a_group_whose_name_has_a_space_is_not_two_groups(client: TestClient, forger: TokenForger) -> None:
    token = forger.token(groups=["Not ADMINS"])
    refused = client.get("/v1/admin/endpoints", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "missing_group"
    assert client.get("/v1/users/whoami", headers={"Authorization": f"Bearer {token}"}).json()["groups"] == [
        "Not ADMINS"
    ]


def test_locally_a_string_claim_holding_deeply_nested_json_text_is_returned_as_that_string(
    client: TestClient, forger: TokenForger, caplog: pytest.LogCaptureFixture
) -> None:
    nested = '{"a":' * 255 + "1" + "}" * 255
    with caplog.at_level(logging.DEBUG):
        response = client.get("/v1/users/whoami", headers={"Authorization": f"Bearer {forger.token(name=nested)}"})
    assert response.status_code == 200
    assert response.json()["name"] == nested
    assert "Traceback" not in caplog.text


def test_a_token_whose_claims_nest_too_deep_is_refused_with_the_gateways_401(
    client: TestClient, forger: TokenForger, caplog: pytest.LogCaptureFixture
) -> None:
    deep: dict[str, Any] = {}
    for _ in range(255):
        deep = {"a": deep}
    with caplog.at_level(logging.DEBUG):
        response = client.get("/v1/users/whoami", headers={"Authorization": f"Bearer {forger.token(profile=deep)}"})
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    "password",
    ["p" * 73, "é" * 37, "admin-password" + "x" * 100],
    ids=["73 ascii bytes", "74 bytes in 37 characters", "the right password, then more"],
)
@pytest.mark.parametrize("username", [ADMIN[0], "nobody@example.com"], ids=["known user", "unknown user"])
def test_a_password_longer_than_bcrypt_takes_is_a_wrong_password(
    client: TestClient, username: str, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": "not-it"})
    with caplog.at_level(logging.DEBUG):
        response = client.post("/v1/auth/token", data={"username": username, "password": password})
    assert_oauth_error(response, error="invalid_grant", code="invalid_credentials")
    assert response.json() == wrong.json()
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
