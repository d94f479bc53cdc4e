"""IDENTITY_PROVIDER=firebase against the real Firebase Auth emulator (npm firebase-tools)."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi.testclient import TestClient

from service.core.access.declaration import RouteAccess
from tests.identity.conftest import (
    ADMIN,
    DISABLED,
    USER,
    Account,
    bearer,
    build_app,
    firebase_settings,
    refresh_request,
    token_request,
)
from tests.identity.standins import FirebaseAuthEmulator
from tests.support import assert_oauth_error

pytestmark = pytest.mark.e2e


def test_admin_signs_in_and_reaches_whoami_and_the_admin_route(firebase_client: TestClient) -> None:
    response = token_request(firebase_client, ADMIN)

    assert response.status_code == 200
    grant = response.json()
    assert grant["token_type"] == "bearer"
    assert grant["expires_in"] == 3600
    assert grant["refresh_token"]
    assert response.headers["cache-control"] == "no-store"

    whoami = firebase_client.get("/v1/users/whoami", headers=bearer(grant["access_token"]))
    assert whoami.status_code == 200
    assert whoami.json()["email"] == ADMIN.username
    # Groups are the custom claim set on the user, as a list again after the gateway's flattening.
    assert whoami.json()["groups"] == ["ADMINS", "USERS"]

    admin = firebase_client.get("/v1/admin/endpoints", headers=bearer(grant["access_token"]))
    assert admin.status_code == 200
    assert ("GET", "/v1/users/whoami") in {(e["method"], e["path"]) for e in admin.json()}


def test_a_user_outside_admins_is_refused_the_admin_route(firebase_client: TestClient) -> None:
    token = token_request(firebase_client, USER).json()["access_token"]

    assert firebase_client.get("/v1/users/whoami", headers=bearer(token)).status_code == 200
    response = firebase_client.get("/v1/admin/endpoints", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["code"] == "missing_group"


def test_firebase_tokens_have_no_scope_so_scoped_routes_refuse_them(
    scoped: RouteAccess, firebase_client: TestClient
) -> None:
    token = token_request(firebase_client, ADMIN).json()["access_token"]

    response = firebase_client.get(scoped.path, headers=bearer(token))

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


@pytest.mark.parametrize(
    "account",
    [Account(ADMIN.username, "wrong-password"), Account("nobody@example.com", "whatever")],
    ids=["wrong password", "unknown email"],
)
def test_bad_credentials_are_invalid_grant_alike_for_unknown_users(
    firebase_client: TestClient, account: Account
) -> None:
    response = token_request(firebase_client, account)

    body = assert_oauth_error(response, error="invalid_grant", code="invalid_credentials")
    assert body["error_description"] == "The username or password is incorrect."


def test_a_disabled_user_is_invalid_grant(firebase_client: TestClient) -> None:
    response = token_request(firebase_client, DISABLED)

    assert_oauth_error(response, error="invalid_grant", code="user_disabled")


def test_a_username_that_is_not_an_email_is_invalid_request(firebase_client: TestClient) -> None:
    response = token_request(firebase_client, Account("not-an-email", "whatever"))

    assert_oauth_error(response, error="invalid_request", code="invalid_request")


def test_any_scope_is_invalid_scope_because_firebase_tokens_carry_none(firebase_client: TestClient) -> None:
    response = token_request(firebase_client, ADMIN, scope="reports:read")

    assert_oauth_error(response, error="invalid_scope", code="invalid_scope")


def test_refresh_grant_returns_a_working_access_token(firebase_client: TestClient) -> None:
    first = token_request(firebase_client, ADMIN).json()

    response = refresh_request(firebase_client, first["refresh_token"])

    assert response.status_code == 200
    refreshed = response.json()
    assert refreshed["refresh_token"]
    whoami = firebase_client.get("/v1/users/whoami", headers=bearer(refreshed["access_token"]))
    assert whoami.json()["email"] == ADMIN.username
    assert firebase_client.get("/v1/admin/endpoints", headers=bearer(refreshed["access_token"])).status_code == 200


def test_an_unknown_refresh_token_is_invalid_grant(firebase_client: TestClient) -> None:
    response = refresh_request(firebase_client, "not-a-refresh-token")

    assert_oauth_error(response, error="invalid_grant", code="invalid_refresh_token")


def _unsigned(emulator: FirebaseAuthEmulator, **overrides: object) -> str:
    now = int(time.time())
    claims = {"iss": emulator.issuer, "aud": emulator.project_id, "sub": "forged", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return jwt.encode(claims, key="", algorithm="none")


def test_unsigned_tokens_still_need_the_right_issuer_audience_and_lifetime(
    firebase_client: TestClient, firebase_emulator: FirebaseAuthEmulator
) -> None:
    accepted = _unsigned(firebase_emulator)
    assert firebase_client.get("/v1/users/whoami", headers=bearer(accepted)).status_code == 200

    for bad in (
        _unsigned(firebase_emulator, iss="https://securetoken.google.com/demo-other"),
        _unsigned(firebase_emulator, aud="demo-other"),
        _unsigned(firebase_emulator, exp=int(time.time()) - 3600),
    ):
        response = firebase_client.get("/v1/users/whoami", headers=bearer(bad))
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthorized"}


def test_emulator_tokens_are_refused_without_the_emulator_variable(firebase_emulator: FirebaseAuthEmulator) -> None:
    with TestClient(build_app(**firebase_settings(firebase_emulator))) as emulated:
        token = token_request(emulated, ADMIN).json()["access_token"]
    settings = firebase_settings(firebase_emulator, firebase_auth_emulator_host=None)

    with TestClient(build_app(**settings)) as client:
        response = client.get("/v1/users/whoami", headers=bearer(token))

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
