"""Provider answers the stand-ins cannot produce (throttling, a bad API key or client secret,
a reset password), in the shapes Google and AWS document, played by an httpx mock transport,
and the RFC 6749 error each becomes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.core.http import SharedHttpClient
from tests.identity.conftest import ADMIN, build_app, refresh_request, token_request
from tests.support import assert_oauth_error

FIREBASE = {
    "identity_provider": "firebase",
    "firebase_app_api_key": "key",
    "jwt_issuer": "https://securetoken.google.com/demo-x",
    "jwt_audience": "demo-x",
}
COGNITO = {
    "identity_provider": "cognito",
    "cognito_user_pool_client_id": "client",
    "aws_region": "eu-west-1",
    "jwt_issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x",
    "jwt_audience": "client",
}


def google_error(message: str, *, status: int = 400, reason: str | None = None) -> httpx.Response:
    error: dict[str, Any] = {"code": status, "message": message, "errors": [{"message": message, "reason": "invalid"}]}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}]
    return httpx.Response(status, json={"error": error})


def aws_error(error_type: str, message: str, *, status: int = 400) -> httpx.Response:
    return httpx.Response(
        status, json={"__type": error_type, "message": message}, headers={"x-amzn-errortype": error_type}
    )


def answer_with(settings: dict[str, Any], answer: httpx.Response, *, refresh: bool = False) -> httpx.Response:
    app = build_app(**settings)
    app.state.http = SharedHttpClient(timeout_seconds=5.0, transport=httpx.MockTransport(lambda _: answer))
    with TestClient(app) as client:
        response: httpx.Response = (
            refresh_request(client, "a-refresh-token") if refresh else token_request(client, ADMIN)
        )
        return response


@pytest.mark.parametrize(
    ("answer", "status", "error", "code"),
    [
        (google_error("INVALID_LOGIN_CREDENTIALS"), 400, "invalid_grant", "invalid_credentials"),
        (
            google_error("TOO_MANY_ATTEMPTS_TRY_LATER : Access to this account has been temporarily disabled"),
            429,
            "temporarily_unavailable",
            "throttled",
        ),
        (google_error("MISSING_PASSWORD"), 400, "invalid_request", "invalid_request"),
        (
            google_error("API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"),
            502,
            "server_error",
            "provider_error",
        ),
        (google_error("PASSWORD_LOGIN_DISABLED"), 502, "server_error", "provider_error"),
    ],
    ids=["improved email privacy", "too many attempts", "missing password", "bad API key", "password sign-in off"],
)
def test_firebase_password_grant_errors(answer: httpx.Response, status: int, error: str, code: str) -> None:
    response = answer_with(FIREBASE, answer)

    assert_oauth_error(response, status=status, error=error, code=code)
    assert "API key not valid" not in response.text


@pytest.mark.parametrize(
    ("answer", "status", "error", "code"),
    [
        (google_error("TOKEN_EXPIRED"), 400, "invalid_grant", "invalid_refresh_token"),
        (google_error("USER_NOT_FOUND"), 400, "invalid_grant", "invalid_refresh_token"),
        (google_error("USER_DISABLED"), 400, "invalid_grant", "user_disabled"),
    ],
    ids=["expired", "user deleted", "user disabled"],
)
def test_firebase_refresh_grant_errors(answer: httpx.Response, status: int, error: str, code: str) -> None:
    response = answer_with(FIREBASE, answer, refresh=True)

    assert_oauth_error(response, status=status, error=error, code=code)


@pytest.mark.parametrize(
    ("answer", "status", "error", "code"),
    [
        (
            aws_error("NotAuthorizedException", "Password attempts exceeded"),
            429,
            "temporarily_unavailable",
            "throttled",
        ),
        (aws_error("TooManyRequestsException", "Too many requests"), 429, "temporarily_unavailable", "throttled"),
        (
            aws_error("NotAuthorizedException", "Unable to verify secret hash for client abc"),
            502,
            "server_error",
            "provider_error",
        ),
        (
            aws_error("PasswordResetRequiredException", "Password reset required for the user"),
            400,
            "invalid_grant",
            "sign_in_incomplete",
        ),
        (aws_error("UserNotConfirmedException", "User is not confirmed."), 400, "invalid_grant", "sign_in_incomplete"),
        (
            aws_error("InvalidParameterException", "USER_PASSWORD_AUTH flow not enabled for this client"),
            502,
            "server_error",
            "provider_error",
        ),
        (aws_error("InternalErrorException", "Internal error", status=500), 502, "server_error", "provider_error"),
    ],
    ids=[
        "attempts exceeded",
        "throttled",
        "wrong client secret",
        "password reset",
        "unconfirmed",
        "flow not enabled",
        "internal error",
    ],
)
def test_cognito_errors(answer: httpx.Response, status: int, error: str, code: str) -> None:
    response = answer_with(COGNITO, answer)

    assert_oauth_error(response, status=status, error=error, code=code)
    assert "client abc" not in response.text
