"""The API in RUNTIME=LOCAL, through the app itself: the routes a newcomer tries first."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.core.access.declaration import KNOWN_SCOPES, RouteAccess
from tests.declared import CALLER_PASSWORD, UNDECLARED_GROUP, caller_of, declared_routes, users_file
from tests.service.conftest import ADMIN, USER, password_grant
from tests.support import assert_oauth_error


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_is_public(client: TestClient) -> None:
    response = client.get("/v1/manage/hc")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_password_grant_returns_bearer_tokens_that_are_never_cached(client: TestClient) -> None:
    response = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].count(".") == 2
    assert body["refresh_token"]
    assert body.get("scope", "") == " ".join(KNOWN_SCOPES)  # the demo admin's: every declared scope
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_whoami_returns_the_callers_claims_as_types_not_strings(client: TestClient) -> None:
    token = password_grant(client, *ADMIN)["access_token"]
    claims = client.get("/v1/users/whoami", headers=auth(token)).json()
    assert claims["sub"] == "admin@example.com"
    assert claims["groups"] == ["ADMINS", "USERS"]
    assert isinstance(claims["exp"], int)
    assert claims["exp"] > claims["iat"]


def test_bare_token_and_lowercase_scheme_are_accepted_as_the_gateway_does(client: TestClient) -> None:
    token = password_grant(client, *USER)["access_token"]
    assert client.get("/v1/users/whoami", headers={"Authorization": token}).status_code == 200
    assert client.get("/v1/users/whoami", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_admin_lists_every_route_with_its_access(client: TestClient) -> None:
    token = password_grant(client, *ADMIN)["access_token"]
    response = client.get("/v1/admin/endpoints", headers=auth(token))
    assert response.status_code == 200
    routes = {(e["method"], e["path"]): e for e in response.json()}
    assert routes[("GET", "/v1/manage/hc")]["public"] is True
    assert routes[("POST", "/v1/auth/token")]["public"] is True
    assert routes[("GET", "/v1/users/whoami")] == {
        "method": "GET",
        "path": "/v1/users/whoami",
        "name": "whoami",
        "public": False,
        "scopes": [],
        "groups": [],
    }
    assert routes[("GET", "/v1/admin/endpoints")]["groups"] == ["ADMINS"]
    for declared in declared_routes():
        listed = routes[(declared.method, declared.path)]
        assert (listed["public"], listed["scopes"], listed["groups"]) == (
            declared.public,
            list(declared.scopes),
            list(declared.groups),
        )
    assert routes[("GET", "/v1/docs")]["public"] is True


def test_admin_route_refuses_a_user_outside_the_group_with_a_problem(client: TestClient) -> None:
    token = password_grant(client, *USER)["access_token"]
    response = client.get("/v1/admin/endpoints", headers=auth(token))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "missing_group"


@pytest.fixture
def route_users(scoped: RouteAccess, make_local_app: Callable[..., FastAPI], tmp_path: Path) -> Iterator[TestClient]:
    """The app, its embedded issuer knowing the scoped route's caller and two it refuses (`tests/declared.py`)."""
    path = users_file(
        tmp_path / "users.json",
        caller_of(scoped, username="caller@example.com"),
        caller_of(scoped, username="no-scope@example.com", scopes=()),
        caller_of(scoped, username="no-group@example.com", groups=(UNDECLARED_GROUP,)),
    )
    with TestClient(make_local_app(local_users_file=path)) as client:
        yield client


def test_scoped_route_serves_a_token_with_the_scope(scoped: RouteAccess, route_users: TestClient) -> None:
    token = password_grant(route_users, "caller@example.com", CALLER_PASSWORD)["access_token"]
    response = route_users.get(scoped.path, headers=auth(token))
    assert response.status_code == 200
    # Without the scope, refused as the gateway refuses.
    no_scope = password_grant(route_users, "no-scope@example.com", CALLER_PASSWORD)["access_token"]
    assert route_users.get(scoped.path, headers=auth(no_scope)).json() == {"message": "Forbidden"}
    # With the scope but none of the route's groups, where it asks for some: the function's refusal.
    no_group = password_grant(route_users, "no-group@example.com", CALLER_PASSWORD)["access_token"]
    refused = route_users.get(scoped.path, headers=auth(no_group))
    if scoped.groups:
        assert (refused.status_code, refused.json()["code"]) == (403, "missing_group")
    else:
        assert refused.status_code == 200


def test_refresh_grant_issues_a_new_access_token_with_the_same_scopes(
    scoped: RouteAccess, route_users: TestClient
) -> None:
    first = password_grant(route_users, "caller@example.com", CALLER_PASSWORD)
    response = route_users.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 200
    refreshed = response.json()
    assert refreshed["access_token"] != first["access_token"]
    assert route_users.get(scoped.path, headers=auth(refreshed["access_token"])).status_code == 200


def test_a_refresh_token_is_not_an_access_token(client: TestClient) -> None:
    refresh_token = password_grant(client, *ADMIN)["refresh_token"]
    response = client.get("/v1/users/whoami", headers=auth(refresh_token))
    assert response.status_code == 401


def test_an_access_token_is_not_a_refresh_token(client: TestClient) -> None:
    access_token = password_grant(client, *ADMIN)["access_token"]
    response = client.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": access_token})
    assert_oauth_error(response, error="invalid_grant", code="invalid_refresh_token")


def test_wrong_password_and_unknown_user_get_the_same_answer(client: TestClient) -> None:
    wrong = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": "not-it"})
    unknown = client.post("/v1/auth/token", data={"username": "nobody@example.com", "password": "not-it"})
    assert_oauth_error(wrong, error="invalid_grant", code="invalid_credentials")
    assert wrong.json() == unknown.json()


def test_unknown_path_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_tokens_survive_a_restart_because_the_key_is_kept(make_local_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_local_app()) as first:
        token = password_grant(first, *USER)["access_token"]
    with TestClient(make_local_app()) as second:
        assert second.get("/v1/users/whoami", headers=auth(token)).status_code == 200


def test_users_file_replaces_the_demo_users(make_local_app: Callable[..., FastAPI], tmp_path: Path) -> None:
    users_file = tmp_path / "users.json"
    hashed = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(rounds=4)).decode()
    users_file.write_text(
        json.dumps({"users": [{"username": "ops@example.com", "password_hash": hashed, "groups": ["ADMINS"]}]})
    )
    with TestClient(make_local_app(local_users_file=users_file)) as client:
        token = password_grant(client, "ops@example.com", "s3cret-pass")["access_token"]
        assert client.get("/v1/admin/endpoints", headers=auth(token)).status_code == 200
        demo = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]})
        assert_oauth_error(demo, error="invalid_grant", code="invalid_credentials")


def test_a_users_file_entry_can_shape_its_tokens_like_another_providers(
    make_local_app: Callable[..., FastAPI], tmp_path: Path
) -> None:
    users_file = tmp_path / "users.json"
    hashed = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(rounds=4)).decode()
    firebase = {"identities": {"email": ["fb@example.com"]}, "sign_in_provider": "password"}
    entry = {
        "username": "fb@example.com",
        "password_hash": hashed,
        "groups": ["USERS"],
        "subject": "k3xV9mQ2ZtWcR8pLs4NfYh7Ja1Bd",
        # A claim the issuer sets itself cannot be taken over.
        "claims": {"user_id": "k3xV9mQ2ZtWcR8pLs4NfYh7Ja1Bd", "email_verified": True, "firebase": firebase, "iss": "x"},
    }
    users_file.write_text(json.dumps({"users": [entry]}))
    with TestClient(make_local_app(local_users_file=users_file)) as client:
        grant = password_grant(client, "fb@example.com", "s3cret-pass")
        claims = client.get("/v1/users/whoami", headers=auth(grant["access_token"])).json()
        refreshed = client.post(
            "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}
        )

    assert claims["sub"] == claims["user_id"] == "k3xV9mQ2ZtWcR8pLs4NfYh7Ja1Bd"
    assert claims["email"] == "fb@example.com"
    assert claims["email_verified"] is True
    assert claims["groups"] == ["USERS"]
    assert claims["iss"] != "x"
    assert "firebase" in claims
    # The refresh grant still finds the user behind the subject.
    assert refreshed.status_code == 200


def test_disabled_user_in_users_file_is_refused_as_an_invalid_grant(
    make_local_app: Callable[..., FastAPI], tmp_path: Path
) -> None:
    users_file = tmp_path / "users.json"
    hashed = bcrypt.hashpw(b"pw-pw-pw", bcrypt.gensalt(rounds=4)).decode()
    users_file.write_text(
        json.dumps({"users": [{"username": "gone@example.com", "password_hash": hashed, "disabled": True}]})
    )
    with TestClient(make_local_app(local_users_file=users_file)) as client:
        response = client.post("/v1/auth/token", data={"username": "gone@example.com", "password": "pw-pw-pw"})
        assert_oauth_error(response, error="invalid_grant", code="user_disabled")


def test_local_issuer_publishes_its_key_set(client: TestClient) -> None:
    jwks = client.get("/v1/auth/local/.well-known/jwks.json").json()
    assert [key["kty"] for key in jwks["keys"]] == ["RSA"]
    discovery = client.get("/v1/auth/local/.well-known/openid-configuration").json()
    assert discovery["jwks_uri"].endswith("/v1/auth/local/.well-known/jwks.json")


def test_docs_can_be_switched_off(make_local_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_local_app(docs_enabled=False)) as client:
        assert client.get("/v1/docs").status_code == 404
        assert client.get("/v1/openapi.json").status_code == 404
        assert client.get("/v1/redoc").status_code == 404
