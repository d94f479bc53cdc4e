"""`AccessRoute` and `include_api`: the fast path answers exactly as FastAPI's own would.

`AccessRoute` runs a route's `Authenticated(...)` requirement itself instead of through
FastAPI's dependency solving, and `include_api` puts the API's routes on the app's own
router. Both are there for speed (see `make bench`), so the tests hold them to the behaviour
of the plain FastAPI declaration: the same answers, the same OpenAPI document, the same
listing, and the app's dependency overrides still honoured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel

from service.api.deps import CurrentUser, get_identity_provider
from service.api.main import API_PREFIX, RESOURCE_ROUTERS
from service.core.access import AccessRoute, Authenticated, describe_routes
from service.core.identity.base import TokenGrant
from service.core.security import Principal
from tests.service.conftest import TokenForger

Admin = Annotated[Principal, Authenticated(groups=["ADMINS"])]
ItemsReader = Annotated[Principal, Authenticated(scopes=["items:read"])]


class Note(BaseModel):
    text: str


async def whoami(caller: CurrentUser) -> dict[str, Any]:
    return {"sub": caller.subject, "groups": sorted(caller.groups), "scopes": list(caller.scopes)}


async def admin_only(caller: Admin) -> dict[str, Any]:
    return {"sub": caller.subject}


async def scoped(caller: ItemsReader, limit: int = 10) -> dict[str, Any]:
    return {"sub": caller.subject, "limit": limit}


async def post_note(note: Note, caller: CurrentUser) -> dict[str, Any]:
    return {"sub": caller.subject, "text": note.text}


def sync_whoami(caller: CurrentUser) -> dict[str, Any]:
    return {"sub": caller.subject}


def _declare(router: APIRouter) -> APIRouter:
    router.get("/whoami")(whoami)
    router.get("/admin")(admin_only)
    router.get("/scoped")(scoped)
    router.post("/notes")(post_note)
    router.get("/sync")(sync_whoami)
    return router


@pytest.fixture
def twin_app(make_local_app: Callable[..., FastAPI]) -> FastAPI:
    """The same endpoints under FastAPI's own handling (/di) and under `AccessRoute` (/fast)."""
    app = make_local_app()
    app.include_router(_declare(APIRouter()), prefix="/di")
    app.include_router(_declare(APIRouter(route_class=AccessRoute)), prefix="/fast")
    return app


def _requests(forger: TokenForger) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    def bearer(**claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {forger.token(**claims)}"}

    return [
        ("GET", "/whoami", {}, {}),
        ("GET", "/whoami", {"Authorization": "Bearer not-a-jwt"}, {}),
        ("GET", "/whoami", bearer(exp=1), {}),
        ("GET", "/whoami", bearer(aud="someone-else"), {}),
        ("GET", "/whoami", bearer(), {}),
        ("GET", "/admin", bearer(groups=["USERS"]), {}),
        ("GET", "/admin", bearer(groups=None), {}),
        ("GET", "/admin", bearer(groups="ADMINS"), {}),
        ("GET", "/scoped", bearer(scope="openid"), {}),
        ("GET", "/scoped", bearer(scope=None), {}),
        ("GET", "/scoped?limit=3", bearer(), {}),
        ("GET", "/scoped?limit=many", bearer(), {}),
        ("POST", "/notes", bearer(), {"json": {"text": "hello"}}),
        ("POST", "/notes", bearer(), {"json": {"words": "hello"}}),
        ("GET", "/sync", {}, {}),
        ("GET", "/sync", bearer(), {}),
    ]


def test_the_fast_path_answers_as_fastapi_does(twin_app: FastAPI, forger: TokenForger) -> None:
    seen = set()
    with TestClient(twin_app) as client:
        for method, path, headers, extra in _requests(forger):
            plain = client.request(method, "/di" + path, headers=headers, **extra)
            fast = client.request(method, "/fast" + path, headers=headers, **extra)
            assert (fast.status_code, fast.headers.get("www-authenticate")) == (
                plain.status_code,
                plain.headers.get("www-authenticate"),
            ), (method, path)
            assert fast.json() == plain.json(), (method, path)
            seen.add(fast.status_code)
    # The matrix covers successes, both refusals and validation errors.
    assert seen == {200, 401, 403, 422}


def test_a_caller_without_a_token_is_refused_before_the_body_is_read(twin_app: FastAPI) -> None:
    """As at the gateway: no token is a 401 whatever the body, not a validation error."""
    with TestClient(twin_app) as client:
        response = client.post("/fast/notes", content=b"{not json", headers={"content-type": "application/json"})
        assert response.status_code == 401
        # FastAPI's own order reads the body first.
        assert (
            client.post("/di/notes", content=b"{not json", headers={"content-type": "application/json"}).status_code
            == 422
        )


def test_the_document_and_the_listing_are_those_of_the_plain_declaration(twin_app: FastAPI) -> None:
    schema = twin_app.openapi()
    for path in ("/whoami", "/admin", "/scoped", "/notes", "/sync"):
        for method, plain in schema["paths"]["/di" + path].items():
            fast = schema["paths"]["/fast" + path][method]
            # Titles and operation ids are made from the path, which differs by design.
            assert _untitled(fast) == _untitled(plain), (method, path)
            assert fast["security"], path
    listed = {(r.method, r.path): (r.public, r.scopes, r.groups) for r in describe_routes(twin_app)}
    for method, path in [("GET", "/whoami"), ("GET", "/admin"), ("GET", "/scoped"), ("POST", "/notes")]:
        assert listed[(method, "/fast" + path)] == listed[(method, "/di" + path)]
    assert listed[("GET", "/fast/admin")] == (False, (), ("ADMINS",))
    assert listed[("GET", "/fast/scoped")] == (False, ("items:read",), ())


def _untitled(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untitled(v) for k, v in value.items() if k not in ("title", "operationId")}
    if isinstance(value, list):
        return [_untitled(v) for v in value]
    return value


def test_a_sync_endpoint_keeps_fastapis_dependency(twin_app: FastAPI) -> None:
    """FastAPI runs a sync endpoint in a thread; its requirement stays a dependency (and the
    matrix above shows it enforced)."""
    routes = {context.path: context.original_route for context in iter_route_contexts(twin_app.routes)}
    assert isinstance(routes["/fast/sync"], AccessRoute)
    assert routes["/fast/sync"].lifted_access is None
    assert isinstance(routes["/fast/whoami"], AccessRoute)
    assert routes["/fast/whoami"].lifted_access is not None


def test_every_api_route_is_the_apps_own_and_runs_its_requirement_first(make_local_app: Callable[..., FastAPI]) -> None:
    app = make_local_app()
    own = {(r.path, m): r for r in app.router.routes if isinstance(r, APIRoute) for m in r.methods or ()}
    declared = {API_PREFIX + r.path for router in RESOURCE_ROUTERS for r in router.routes if isinstance(r, APIRoute)}
    described = [d for d in describe_routes(app) if d.path in declared]
    assert {d.path for d in described} == declared
    for route in described:
        served = own[(route.path, route.method)]
        assert isinstance(served, AccessRoute), route.path
        assert (served.lifted_access is not None) == (not route.public), route.path


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


def test_a_router_requirement_beside_the_routes_own_is_documented_as_fastapi_does(
    make_local_app: Callable[..., FastAPI],
) -> None:
    app = make_local_app()
    router_requirement = [Authenticated(scopes=["items:read"])]
    app.include_router(_declare(APIRouter()), prefix="/di", dependencies=router_requirement)
    app.include_router(_declare(APIRouter(route_class=AccessRoute)), prefix="/fast", dependencies=router_requirement)
    paths = app.openapi()["paths"]
    for path in ("/whoami", "/admin", "/scoped"):
        assert paths["/fast" + path]["get"]["security"] == paths["/di" + path]["get"]["security"], path
    assert paths["/fast/whoami"]["get"]["security"] == [{"OAuth2PasswordBearer": ["items:read"]}]
