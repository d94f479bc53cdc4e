"""Service routes become gateway routes: one per operation, access from the route's declaration."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, FastAPI

from infra.routes import GatewayRoute, RouteDerivationError, docs_path, gateway_routes, http_api_path
from service.core.access.caller import Principal
from service.core.access.declaration import Authenticated


def app_with(router: APIRouter) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)
    app.include_router(router)
    return app


@pytest.mark.parametrize(
    ("starlette", "http_api"),
    [
        ("/v1/items", "/v1/items"),
        ("/v1/items/{item_id}", "/v1/items/{item_id}"),
        ("/v1/items/{item_id:int}/parts/{part}", "/v1/items/{item_id}/parts/{part}"),
        ("/v1/files/{file_path:path}", "/v1/files/{file_path+}"),
    ],
)
def test_paths_use_http_api_parameter_syntax(starlette: str, http_api: str) -> None:
    assert http_api_path(starlette) == http_api


def test_a_greedy_parameter_before_the_end_cannot_be_expressed() -> None:
    with pytest.raises(RouteDerivationError, match="greedy"):
        http_api_path("/v1/files/{file_path:path}/meta")


def test_each_operation_gets_a_route_with_its_declared_access(declared_scope: str) -> None:
    scope = declared_scope
    router = APIRouter()

    @router.get("/open")
    async def open_route() -> None: ...

    @router.get("/any-token")
    async def any_token(_: Annotated[Principal, Authenticated()]) -> None: ...

    # In the decorator, the other place a declaration goes (an annotation could not name this local `scope`).
    @router.put("/scoped/{item_id}", dependencies=[Authenticated(scopes=[scope])])
    async def put_scoped(item_id: int) -> None: ...

    @router.delete("/scoped/{item_id}", dependencies=[Authenticated(scopes=[scope])])
    async def delete_scoped(item_id: int) -> None: ...

    @router.get("/grouped")
    async def grouped(_: Annotated[Principal, Authenticated(groups=["ADMINS"])]) -> None: ...

    routes = {route.key: route for route in gateway_routes(app_with(router))}

    assert routes == {
        "GET /open": GatewayRoute("GET", "/open", authorized=False),
        "GET /any-token": GatewayRoute("GET", "/any-token", authorized=True),
        "DELETE /scoped/{item_id}": GatewayRoute("DELETE", "/scoped/{item_id}", authorized=True, scopes=(scope,)),
        "PUT /scoped/{item_id}": GatewayRoute("PUT", "/scoped/{item_id}", authorized=True, scopes=(scope,)),
        # Groups are the app's to enforce; at the gateway this is "any valid token".
        "GET /grouped": GatewayRoute("GET", "/grouped", authorized=True),
    }


def test_routes_outside_the_openapi_document_are_public_ones() -> None:
    router = APIRouter()

    @router.get("/hidden-page", include_in_schema=False)
    async def hidden_page() -> None: ...

    assert gateway_routes(app_with(router)) == (GatewayRoute("GET", "/hidden-page", authorized=False),)


def test_a_protected_route_missing_from_the_document_stops_synth() -> None:
    router = APIRouter()

    @router.get("/hidden-admin", include_in_schema=False)
    async def hidden_admin(_: Annotated[Principal, Authenticated()]) -> None: ...

    with pytest.raises(RouteDerivationError, match="GET /hidden-admin is protected but missing"):
        gateway_routes(app_with(router))


def test_docs_path_is_none_without_docs() -> None:
    assert docs_path(app_with(APIRouter())) is None
