"""IDENTITY_PROVIDER=cognito against moto's Cognito server, tokens verified with moto's JWKS."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.identity.conftest import (
    ADMIN,
    DISABLED,
    NEEDS_NEW_PASSWORD,
    USER,
    Account,
    bearer,
    build_app,
    cognito_settings,
    refresh_request,
    token_request,
)
from tests.identity.standins import CognitoUserPool
from tests.support import assert_oauth_error

pytestmark = pytest.mark.e2e


def test_admin_signs_in_and_reaches_whoami_and_the_admin_route(cognito_client: TestClient) -> None:
    response = token_request(cognito_client, ADMIN)

    assert response.status_code == 200
    grant = response.json()
    assert grant["token_type"] == "bearer"
    assert grant["expires_in"] == 3600
    assert grant["refresh_token"]
    assert grant["id_token"]

    whoami = cognito_client.get("/v1/users/whoami", headers=bearer(grant["access_token"]))
    assert whoami.status_code == 200
    claims = whoami.json()
    # A Cognito access token: client_id instead of aud, and the groups under cognito:groups.
    assert "aud" not in claims
    assert claims["token_use"] == "access"
    assert sorted(claims["cognito:groups"]) == ["ADMINS", "USERS"]

    assert cognito_client.get("/v1/admin/endpoints", headers=bearer(grant["access_token"])).status_code == 200


def test_a_user_outside_admins_is_refused_the_admin_route(cognito_client: TestClient) -> None:
    token = token_request(cognito_client, USER).json()["access_token"]

    assert cognito_client.get("/v1/users/whoami", headers=bearer(token)).status_code == 200
    response = cognito_client.get("/v1/admin/endpoints", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["code"] == "missing_group"


def test_tokens_for_another_app_client_are_refused(cognito_pool: CognitoUserPool) -> None:
    settings = cognito_settings(cognito_pool, jwt_audience="some-other-client-id")
    with TestClient(build_app(**settings)) as client:
        token = token_request(client, ADMIN).json()["access_token"]
        response = client.get("/v1/users/whoami", headers=bearer(token))

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


@pytest.mark.parametrize(
    "account",
    [Account(ADMIN.username, "wrong-password"), Account("nobody@example.com", "whatever")],
    ids=["wrong password", "unknown user"],
)
def test_bad_credentials_are_invalid_grant_alike_for_unknown_users(
    cognito_client: TestClient, account: Account
) -> None:
    response = token_request(cognito_client, account)

    body = assert_oauth_error(response, error="invalid_grant", code="invalid_credentials")
    assert body["error_description"] == "The username or password is incorrect."


def test_a_disabled_user_is_invalid_grant(cognito_client: TestClient) -> None:
    response = token_request(cognito_client, DISABLED)

    assert_oauth_error(response, error="invalid_grant", code="user_disabled")


def test_a_user_who_must_choose_a_new_password_gets_an_error_naming_the_challenge(cognito_client: TestClient) -> None:
    response = token_request(cognito_client, NEEDS_NEW_PASSWORD)

    body = assert_oauth_error(response, error="invalid_grant", code="sign_in_incomplete")
    assert "NEW_PASSWORD_REQUIRED" in body["error_description"]


def test_only_cognitos_own_scope_may_be_asked_for(cognito_client: TestClient) -> None:
    assert token_request(cognito_client, ADMIN, scope="aws.cognito.signin.user.admin").status_code == 200

    response = token_request(cognito_client, ADMIN, scope="reports:read")

    assert_oauth_error(response, error="invalid_scope", code="invalid_scope")


def test_refresh_grant_returns_a_working_access_token(cognito_client: TestClient) -> None:
    first = token_request(cognito_client, ADMIN).json()

    response = refresh_request(cognito_client, first["refresh_token"])

    assert response.status_code == 200
    refreshed = response.json()
    # Cognito issues no new refresh token: the one used is handed back, still good.
    assert refreshed["refresh_token"] == first["refresh_token"]
    assert cognito_client.get("/v1/admin/endpoints", headers=bearer(refreshed["access_token"])).status_code == 200


def test_an_unknown_refresh_token_is_invalid_grant(cognito_client: TestClient) -> None:
    response = refresh_request(cognito_client, "not-a-refresh-token")

    assert_oauth_error(response, error="invalid_grant", code="invalid_refresh_token")


def secret_client_settings(pool: CognitoUserPool) -> dict[str, Any]:
    """The pool's app client that has a secret, and tokens issued to it."""
    return cognito_settings(
        pool,
        cognito_user_pool_client_id=pool.secret_client_id,
        cognito_user_pool_client_secret=pool.secret_client_secret,
        jwt_audience=pool.secret_client_id,
    )


def test_an_app_client_with_a_secret_signs_in_and_refreshes(cognito_pool: CognitoUserPool) -> None:
    with TestClient(build_app(**secret_client_settings(cognito_pool))) as client:
        grant = token_request(client, ADMIN).json()
        # moto checks SECRET_HASH on refresh, against the user name the refresh token belongs to.
        response = refresh_request(client, grant["refresh_token"])
        assert response.status_code == 200
        assert client.get("/v1/users/whoami", headers=bearer(response.json()["access_token"])).status_code == 200
        assert refresh_request(client, response.json()["refresh_token"]).status_code == 200


def test_a_refresh_token_without_its_user_name_is_invalid_grant_with_a_client_secret(
    cognito_pool: CognitoUserPool,
) -> None:
    with TestClient(build_app(**secret_client_settings(cognito_pool))) as client:
        response = refresh_request(client, "a-bare-cognito-refresh-token")

    assert_oauth_error(response, error="invalid_grant", code="invalid_refresh_token")


@pytest.mark.parametrize(
    "variable", ["aws_endpoint_url_cognito_idp", "aws_endpoint_url_cognito_identity_provider", "aws_endpoint_url"]
)
def test_each_endpoint_override_reaches_the_pool(cognito_pool: CognitoUserPool, variable: str) -> None:
    settings = cognito_settings(cognito_pool, aws_endpoint_url_cognito_idp=None)
    settings[variable] = cognito_pool.endpoint
    with TestClient(build_app(**settings)) as client:
        assert token_request(client, ADMIN).status_code == 200
