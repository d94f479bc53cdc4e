"""`POST /v1/auth/token` reads its form as RFC 6749 asks and answers every failure as an RFC 6749
error, whatever the provider: what the route itself decides, through the app with the embedded issuer."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api.deps import get_identity_provider
from service.core.access.declaration import KNOWN_SCOPES
from service.core.identity.base import TokenGrant
from tests.declared import SCOPE, UNDECLARED_SCOPE
from tests.service.conftest import ADMIN, USER
from tests.support import assert_oauth_error

FORM = "application/x-www-form-urlencoded"
# A declared scope where there is one: the demo user has none, the demo admin each.
ANY_SCOPE = SCOPE or UNDECLARED_SCOPE


def post_form(client: TestClient, body: str, **headers: str) -> Any:
    return client.post("/v1/auth/token", content=body.encode(), headers={"content-type": FORM, **headers})


@pytest.mark.parametrize(
    "body",
    [
        f"username={ADMIN[0]}",
        f"password={ADMIN[1]}",
        f"username={ADMIN[0]}&password=",
        "grant_type=refresh_token",
        "grant_type=refresh_token&refresh_token=",
        "",
    ],
    ids=["no password", "no username", "empty password", "no refresh token", "empty refresh token", "empty form"],
)
def test_a_missing_parameter_is_invalid_request(client: TestClient, body: str) -> None:
    response = post_form(client, body)

    assert_oauth_error(response, error="invalid_request", code="invalid_request")
    assert ADMIN[0] not in response.text


@pytest.mark.parametrize(
    "body",
    [
        f"username={ADMIN[0]}&username={USER[0]}&password={ADMIN[1]}",
        f"username={ADMIN[0]}&password={ADMIN[1]}&password=other",
        f"grant_type=password&grant_type=refresh_token&username={ADMIN[0]}&password={ADMIN[1]}",
    ],
    ids=["username", "password", "grant_type"],
)
def test_a_repeated_parameter_is_invalid_request_naming_it(client: TestClient, body: str) -> None:
    response = post_form(client, body)

    body_json = assert_oauth_error(response, error="invalid_request", code="invalid_request")
    assert "repeated" in body_json["error_description"]
    assert ADMIN[1] not in response.text


def test_an_unknown_parameter_is_ignored_even_repeated(client: TestClient) -> None:
    response = post_form(client, f"username={ADMIN[0]}&password={ADMIN[1]}&state=a&state=b")

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "send",
    [
        lambda client: client.post("/v1/auth/token", json={"username": ADMIN[0], "password": ADMIN[1]}),
        lambda client: client.post(
            "/v1/auth/token", files={"username": (None, ADMIN[0]), "password": (None, ADMIN[1])}
        ),
        lambda client: client.post("/v1/auth/token", content=f"username={ADMIN[0]}&password={ADMIN[1]}"),
        lambda client: client.post("/v1/auth/token", content=b"\x00\xff", headers={"content-type": "text/plain"}),
    ],
    ids=["JSON", "multipart", "no content type", "text"],
)
def test_a_body_that_is_not_form_encoded_is_invalid_request(
    client: TestClient, send: Callable[[TestClient], Any]
) -> None:
    response = send(client)

    body = assert_oauth_error(response, error="invalid_request", code="invalid_request")
    assert FORM in body["error_description"]


def test_a_form_with_a_charset_is_form_encoded(client: TestClient) -> None:
    response = post_form(
        client, f"username={ADMIN[0]}&password={ADMIN[1]}", **{"content-type": f"{FORM}; charset=UTF-8"}
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "grant_type",
    ["client_credentials", "authorization_code", "urn:ietf:params:oauth:grant-type:device_code", "Password"],
)
def test_a_grant_type_the_endpoint_does_not_offer_is_unsupported_grant_type(
    client: TestClient, grant_type: str
) -> None:
    response = client.post("/v1/auth/token", data={"grant_type": grant_type, "client_id": "x", "client_secret": "y"})

    assert_oauth_error(response, error="unsupported_grant_type", code="unsupported_grant_type")
    assert grant_type not in response.text


def test_client_credentials_in_the_form_or_as_http_basic_do_not_break_the_flow(client: TestClient) -> None:
    form = {"username": ADMIN[0], "password": ADMIN[1]}
    # Swagger UI's optional client fields, and the Basic header client libraries add by default.
    in_form = client.post("/v1/auth/token", data={**form, "client_id": "swagger", "client_secret": "s3cret"})
    basic = "Basic " + base64.b64encode(b"my-app:").decode()
    as_basic = client.post("/v1/auth/token", data=form, headers={"Authorization": basic})
    unreadable_basic = client.post("/v1/auth/token", data=form, headers={"Authorization": "Basic %%%"})

    assert in_form.status_code == as_basic.status_code == unreadable_basic.status_code == 200
    assert in_form.json()["token_type"] == as_basic.json()["token_type"] == "bearer"


def test_an_empty_scope_is_no_scope_so_the_user_gets_their_own(client: TestClient) -> None:
    # What Swagger UI sends when no scope is ticked (RFC 6749 section 3.1: a parameter without a value is omitted).
    response = post_form(client, f"grant_type=password&username={ADMIN[0]}&password={ADMIN[1]}&scope=")

    assert response.status_code == 200, response.text
    # The demo admin's own: every scope the app declares.
    assert response.json().get("scope", "") == " ".join(KNOWN_SCOPES)


def test_a_scope_the_user_may_have_is_granted(declared_scope: str, client: TestClient) -> None:
    scope = declared_scope
    response = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1], "scope": scope})

    assert response.status_code == 200
    assert response.json()["scope"] == scope


@pytest.mark.parametrize(
    ("account", "scope"),
    [(USER, ANY_SCOPE), (ADMIN, f"{ANY_SCOPE} {UNDECLARED_SCOPE}"), (ADMIN, "openid")],
    ids=["a scope the user lacks", "one of two the user lacks", "a scope nobody has"],
)
def test_a_scope_the_user_may_not_have_is_invalid_scope_not_a_narrower_grant(
    client: TestClient, account: tuple[str, str], scope: str
) -> None:
    response = client.post("/v1/auth/token", data={"username": account[0], "password": account[1], "scope": scope})

    assert_oauth_error(response, error="invalid_scope", code="invalid_scope")


def test_a_wrong_password_says_nothing_of_scopes(client: TestClient) -> None:
    response = client.post("/v1/auth/token", data={"username": USER[0], "password": "wrong", "scope": ANY_SCOPE})

    assert_oauth_error(response, error="invalid_grant", code="invalid_credentials")


def test_an_unexpected_error_is_a_server_error_without_detail_or_traceback(
    make_local_app: Callable[..., FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenProvider:
        async def password_grant(self, *, username: str, password: str, scope: str | None) -> TokenGrant:
            raise KeyError("internal-detail-42")

        async def refresh_grant(self, *, refresh_token: str) -> TokenGrant:
            raise AssertionError("not used")

    app = make_local_app()
    app.dependency_overrides[get_identity_provider] = BrokenProvider
    with caplog.at_level(logging.DEBUG), TestClient(app) as client:
        response = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]})

    assert_oauth_error(response, status=500, error="server_error", code="internal_error")
    assert "internal-detail-42" not in response.text
    assert "internal-detail-42" not in caplog.text
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [(record.name, record.getMessage()) for record in errors] == [
        ("service.errors", "unhandled error: KeyError")
    ]
    assert not [record for record in caplog.records if record.exc_info]


def test_a_provider_that_cannot_be_built_is_a_server_error(make_local_app: Callable[..., FastAPI]) -> None:
    def unbuildable() -> None:
        raise OSError("the key file is unreadable")

    app = make_local_app()
    app.dependency_overrides[get_identity_provider] = unbuildable
    with TestClient(app) as client:
        response = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]})

    assert_oauth_error(response, status=500, error="server_error", code="internal_error")


def test_more_than_a_thousand_fields_are_invalid_request_not_a_server_error(client: TestClient) -> None:
    """Starlette refuses more than 1,000 fields with its own 400: said in OAuth's terms, not caught as unexpected."""
    body = f"username={ADMIN[0]}&password={ADMIN[1]}&" + "&".join(f"f{n}=x" for n in range(999))
    response = post_form(client, body)

    description = assert_oauth_error(response, error="invalid_request", code="invalid_request")["error_description"]
    assert "too many fields" in description


def test_a_thousand_fields_are_read(client: TestClient) -> None:
    body = f"username={ADMIN[0]}&password={ADMIN[1]}&" + "&".join(f"f{n}=x" for n in range(998))

    assert post_form(client, body).status_code == 200
