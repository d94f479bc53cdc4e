"""A provider that is down, slow or broken: every provider answers promptly, with the right status,
as an RFC 6749 error a client library parses, with nothing of the provider's body and no traceback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.core.http import SharedHttpClient
from tests.identity.conftest import ADMIN, build_app, token_request
from tests.support import assert_oauth_error

DEADLINE_SECONDS = 1.0
PROVIDERS = ["firebase", "cognito", "oidc"]


def settings_pointing_at(provider: str, host_port: str) -> dict[str, Any]:
    """A provider whose every call goes to `host_port`, with a short deadline."""
    common: dict[str, Any] = {
        "identity_provider": provider,
        "provider_timeout_seconds": DEADLINE_SECONDS,
        "jwt_issuer": "https://issuer.example.test",
        "jwt_audience": "api",
    }
    match provider:
        case "firebase":
            return {**common, "firebase_app_api_key": "key", "firebase_auth_emulator_host": host_port}
        case "cognito":
            return {
                **common,
                "cognito_user_pool_client_id": "client",
                "aws_region": "eu-west-1",
                "aws_endpoint_url_cognito_idp": f"http://{host_port}/",
            }
        case _:
            return {**common, "oidc_client_id": "client", "oidc_token_url": f"http://{host_port}/token"}


def sign_in_against(provider: str, host_port: str) -> tuple[httpx.Response, float]:
    with TestClient(build_app(**settings_pointing_at(provider, host_port))) as client:
        started = time.monotonic()
        response = token_request(client, ADMIN)
        return response, time.monotonic() - started


# The RFC 6749 code each failure is reported with.
ERROR_OF = {
    "provider_unavailable": "temporarily_unavailable",
    "provider_timeout": "temporarily_unavailable",
    "provider_error": "server_error",
}


def assert_clean_error(response: httpx.Response, caplog: pytest.LogCaptureFixture, *, status: int, code: str) -> None:
    assert_oauth_error(response, status=status, error=ERROR_OF[code], code=code)
    assert not [record for record in caplog.records if record.exc_info], "a traceback was logged"


@pytest.mark.e2e
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_not_listening_is_503_at_once(
    provider: str, closed_port: str, caplog: pytest.LogCaptureFixture
) -> None:
    response, elapsed = sign_in_against(provider, closed_port)

    assert_clean_error(response, caplog, status=503, code="provider_unavailable")
    assert response.headers["retry-after"]
    assert elapsed < 2 * DEADLINE_SECONDS


@pytest.mark.e2e
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_that_never_answers_is_504_by_the_deadline(
    provider: str, stalled_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    response, elapsed = sign_in_against(provider, stalled_server)

    assert_clean_error(response, caplog, status=504, code="provider_timeout")
    assert elapsed < 2 * DEADLINE_SECONDS


@dataclass(frozen=True)
class BrokenAnswer:
    status: int
    body: bytes
    content_type: str
    expected_status: int
    expected_code: str


BROKEN_ANSWERS = {
    "truncated JSON": BrokenAnswer(200, b'{"idToken": "unterminated', "application/json", 502, "provider_error"),
    "HTML 400": BrokenAnswer(
        400, b"<html>Bad Request from the load balancer</html>", "text/html", 502, "provider_error"
    ),
    "JSON array": BrokenAnswer(200, b'["a JSON array, not an object"]', "application/json", 502, "provider_error"),
    "HTML 500": BrokenAnswer(
        500, b"<html>Internal Server Error: stack trace</html>", "text/html", 502, "provider_error"
    ),
    "HTML 503": BrokenAnswer(503, b"<html>Service Unavailable</html>", "text/html", 503, "provider_unavailable"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("broken", BROKEN_ANSWERS.values(), ids=BROKEN_ANSWERS.keys())
def test_a_broken_answer_is_502_or_503_without_echoing_it(
    provider: str,
    broken: BrokenAnswer,
    canned_server: Callable[[int, bytes, str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    response, elapsed = sign_in_against(provider, canned_server(broken.status, broken.body, broken.content_type))

    assert_clean_error(response, caplog, status=broken.expected_status, code=broken.expected_code)
    assert broken.body.decode()[:12] not in response.text
    assert elapsed < 2 * DEADLINE_SECONDS


def test_a_refused_connection_is_tried_once_more() -> None:
    attempts: list[httpx.Request] = []

    def refuse_once(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"access_token": "opaque", "token_type": "Bearer", "expires_in": 60})

    app = build_app(**settings_pointing_at("oidc", "idp.example.test"))
    app.state.http = SharedHttpClient(timeout_seconds=DEADLINE_SECONDS, transport=httpx.MockTransport(refuse_once))
    with TestClient(app) as client:
        response = token_request(client, ADMIN)

    assert response.status_code == 200
    assert len(attempts) == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadError("connection reset"), httpx.RemoteProtocolError("server disconnected")],
    ids=["reset after sending", "disconnected without answer"],
)
def test_a_password_is_never_sent_twice(failure: httpx.TransportError, caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[httpx.Request] = []

    def fail_after_sending(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise failure

    app = build_app(**settings_pointing_at("oidc", "idp.example.test"))
    app.state.http = SharedHttpClient(
        timeout_seconds=DEADLINE_SECONDS, transport=httpx.MockTransport(fail_after_sending)
    )
    with TestClient(app) as client:
        response = token_request(client, ADMIN)

    assert_clean_error(response, caplog, status=502, code="provider_error")
    assert len(attempts) == 1


@pytest.mark.e2e
def test_failures_are_logged_without_the_password(closed_port: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    sign_in_against("oidc", closed_port)

    assert "identity provider oidc" in caplog.text
    assert ADMIN.password not in caplog.text
