"""`Authenticated(...)`: one declaration in a route's signature, enforced by FastAPI's own dependency solving.

The same declaration answers the requests, writes the operation's OpenAPI `security` and is
read back by `describe_routes` (the admin listing and the CDK construct's gateway routes), on
any router a team adds, async or sync, with a router-level requirement beside the route's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from service.api.deps import CurrentUser, get_identity_provider
from service.core.access.caller import Principal
from service.core.access.declaration import KNOWN_SCOPES, MAX_ROUTE_SCOPES, Authenticated, describe_routes
from service.core.identity.base import TokenGrant
from tests.declared import declared_routes
from tests.service.conftest import TokenForger
from tests.support import ROOT

# The team's own scope, whatever the app declares: registered while its requirement is built
# (the registry checks names then), and for each test (`declared_team_scope`).
SCOPE = "team:read"
with pytest.MonkeyPatch.context() as declaring:
    declaring.setitem(KNOWN_SCOPES, SCOPE, "Read the team's own things")
    Admin = Annotated[Principal, Authenticated(groups=["ADMINS"])]
    ScopeReader = Annotated[Principal, Authenticated(scopes=[SCOPE])]
UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}


class Note(BaseModel):
    text: str


@pytest.fixture(autouse=True)
def declared_team_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    """The team's scope is declared while each test runs, as a team's own would be in KNOWN_SCOPES."""
    monkeypatch.setitem(KNOWN_SCOPES, SCOPE, "Read the team's own things")


def _declare(router: APIRouter) -> APIRouter:
    @router.get("/whoami")
    async def whoami(caller: CurrentUser) -> dict[str, Any]:
        return {"sub": caller.subject, "groups": sorted(caller.groups), "scopes": list(caller.scopes)}

    @router.get("/admin")
    async def admin_only(caller: Admin) -> dict[str, Any]:
        return {"sub": caller.subject}

    @router.get("/scoped")
    async def scoped(caller: ScopeReader, limit: int = 10) -> dict[str, Any]:
        return {"sub": caller.subject, "limit": limit}

    @router.post("/notes")
    async def post_note(note: Note, caller: CurrentUser) -> dict[str, Any]:
        return {"sub": caller.subject, "text": note.text}

    @router.get("/sync")
    def sync_whoami(caller: CurrentUser) -> dict[str, Any]:
        return {"sub": caller.subject}

    return router


@pytest.fixture
def team_app(make_local_app: Callable[..., FastAPI]) -> FastAPI:
    """The service's app with a team's own router included, as a team adds one."""
    app = make_local_app()
    app.include_router(_declare(APIRouter(prefix="/team")))
    return app


def _bearer(forger: TokenForger, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {forger.token(**claims)}"}


def test_each_request_gets_the_answer_its_declaration_gives(team_app: FastAPI, forger: TokenForger) -> None:
    subject = {"sub": "someone@example.com"}
    cases: list[tuple[str, str, dict[str, str], dict[str, Any], int, Any]] = [
        ("GET", "/whoami", {}, {}, 401, UNAUTHORIZED),
        ("GET", "/whoami", {"Authorization": "Bearer not-a-jwt"}, {}, 401, UNAUTHORIZED),
        ("GET", "/whoami", _bearer(forger, exp=1), {}, 401, UNAUTHORIZED),
        ("GET", "/whoami", _bearer(forger, aud="someone-else"), {}, 401, UNAUTHORIZED),
        ("GET", "/whoami", _bearer(forger), {}, 200, {**subject, "groups": forger.claims()["groups"], "scopes": []}),
        ("GET", "/admin", _bearer(forger, groups=["USERS"]), {}, 403, "missing_group"),
        ("GET", "/admin", _bearer(forger, groups=None), {}, 403, "missing_group"),
        ("GET", "/admin", _bearer(forger, groups="ADMINS"), {}, 200, subject),
        ("GET", "/scoped", _bearer(forger, scope="openid"), {}, 403, FORBIDDEN),
        ("GET", "/scoped", _bearer(forger, scope=None), {}, 403, FORBIDDEN),
        ("GET", "/scoped?limit=3", _bearer(forger), {}, 200, {**subject, "limit": 3}),
        # A client-credentials token of another service: scopes, no groups (docs/recipes.md).
        ("GET", "/scoped?limit=3", _bearer(forger, groups=None), {}, 200, {**subject, "limit": 3}),
        ("GET", "/whoami", _bearer(forger, groups=None), {}, 200, {**subject, "groups": [], "scopes": []}),
        ("GET", "/scoped?limit=many", _bearer(forger), {}, 422, "validation_error"),
        ("GET", "/scoped?limit=many", {}, {}, 401, UNAUTHORIZED),
        ("POST", "/notes", _bearer(forger), {"json": {"text": "hello"}}, 200, {**subject, "text": "hello"}),
        ("POST", "/notes", _bearer(forger), {"json": {"words": "hello"}}, 422, "validation_error"),
        ("POST", "/notes", {}, {"json": {"words": "hello"}}, 401, UNAUTHORIZED),
        ("GET", "/sync", {}, {}, 401, UNAUTHORIZED),
        ("GET", "/sync", _bearer(forger), {}, 200, subject),
    ]
    with TestClient(team_app) as client:
        for method, path, headers, extra, status, expected in cases:
            response = client.request(method, "/team" + path, headers=headers, **extra)
            assert response.status_code == status, (method, path, response.text)
            body = response.json()
            assert (body.get("code") if isinstance(expected, str) else body) == expected, (method, path)
            if status == 401:
                assert response.headers["www-authenticate"].startswith("Bearer "), path


def test_the_openapi_document_carries_each_declaration(team_app: FastAPI) -> None:
    schema = team_app.openapi()
    paths = schema["paths"]
    assert paths["/team/whoami"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert paths["/team/admin"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert paths["/team/scoped"]["get"]["security"] == [{"OAuth2PasswordBearer": [SCOPE]}]
    assert paths["/team/sync"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert paths["/v1/manage/hc"]["get"]["security"] == []
    password_flow = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]
    assert password_flow["tokenUrl"] == "/v1/auth/token"
    # Swagger UI offers the declared scopes (each with what it grants): the app's routes' among them.
    assert password_flow["scopes"].items() <= KNOWN_SCOPES.items()
    assert {scope for route in declared_routes() for scope in route.scopes} <= password_flow["scopes"].keys()
    # The refusals that come with a declaration are documented from it.
    assert {"401", "403"} <= paths["/team/whoami"]["get"]["responses"].keys()
    assert "401" not in paths["/v1/manage/hc"]["get"]["responses"]


def test_the_listing_reads_the_same_declarations(team_app: FastAPI) -> None:
    listed = {(r.method, r.path): (r.public, r.scopes, r.groups) for r in describe_routes(team_app)}
    assert listed[("GET", "/team/whoami")] == (False, (), ())
    assert listed[("GET", "/team/admin")] == (False, (), ("ADMINS",))
    assert listed[("GET", "/team/scoped")] == (False, (SCOPE,), ())
    assert listed[("POST", "/team/notes")] == (False, (), ())
    assert listed[("GET", "/team/sync")] == (False, (), ())
    assert listed[("GET", "/v1/manage/hc")] == (True, (), ())


def test_a_router_requirement_beside_the_routes_own_counts_in_every_enforcer(
    make_local_app: Callable[..., FastAPI], forger: TokenForger
) -> None:
    app = make_local_app()
    app.include_router(_declare(APIRouter()), prefix="/team", dependencies=[Authenticated(scopes=[SCOPE])])
    paths = app.openapi()["paths"]
    assert paths["/team/whoami"]["get"]["security"] == [{"OAuth2PasswordBearer": [SCOPE]}]
    listed = {(r.method, r.path): (r.scopes, r.groups) for r in describe_routes(app)}
    assert listed[("GET", "/team/admin")] == ((SCOPE,), ("ADMINS",))
    with TestClient(app) as client:
        assert client.get("/team/whoami", headers=_bearer(forger, scope="openid")).json() == FORBIDDEN
        assert client.get("/team/admin", headers=_bearer(forger, groups=["USERS"])).json()["code"] == "missing_group"
        assert client.get("/team/admin", headers=_bearer(forger)).status_code == 200


def test_dependency_overrides_reach_the_api_routes(make_local_app: Callable[..., FastAPI]) -> None:
    class FixedProvider:
        async def password_grant(self, *, username: str, password: str, scope: str | None) -> TokenGrant:
            return TokenGrant(access_token=f"token-for-{username}", expires_in=60)

        async def refresh_grant(self, *, refresh_token: str) -> TokenGrant:
            raise AssertionError("not used")

    app = make_local_app()
    app.dependency_overrides[get_identity_provider] = FixedProvider
    with TestClient(app) as client:
        response = client.post("/v1/auth/token", data={"username": "anyone", "password": "anything"})
    assert response.status_code == 200
    assert response.json()["access_token"] == "token-for-anyone"


def test_an_undeclared_scope_stops_the_app_naming_the_file_that_declares_scopes() -> None:
    with pytest.raises(ValueError, match=r"undeclared scopes \['reports:read'\]: add each") as refused:
        Authenticated(scopes=["reports:read"])

    registry = str(refused.value).rsplit(" in ", 1)[-1]
    assert (ROOT / registry).is_file()
    assert "KNOWN_SCOPES: dict[str, str] = {" in (ROOT / registry).read_text()


def test_the_demo_admin_is_granted_a_newly_declared_scope_without_a_users_file(
    make_local_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KNOWN_SCOPES, "reports:read", "Read the reports")
    app = make_local_app()
    app.include_router(APIRouter(prefix="/reports"), dependencies=[Authenticated(scopes=["reports:read"])])

    with TestClient(app) as client:
        response = client.post(
            "/v1/auth/token",
            data={"username": "admin@example.com", "password": "admin-password", "scope": "reports:read"},
        )

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "reports:read"


def test_more_scopes_than_a_gateway_route_takes_are_refused_where_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    scopes = [f"orders:{index}" for index in range(MAX_ROUTE_SCOPES + 1)]
    for scope in scopes:
        monkeypatch.setitem(KNOWN_SCOPES, scope, "a generated scope")

    with pytest.raises(ValueError, match=r"^11 scopes on one route, over API Gateway's limit of 10 .*; fix: "):
        Authenticated(scopes=scopes)
    Authenticated(scopes=scopes[:MAX_ROUTE_SCOPES])
