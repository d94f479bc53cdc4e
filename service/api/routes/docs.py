"""Swagger UI, ReDoc and the OpenAPI document, correct behind any path prefix.

Behind API Gateway the public URL starts with `/{stage}` or `/{mapping key}` (the app's
root path). The document is rendered per request so that both its server URL and the
password flow's token URL carry that prefix: Swagger UI resolves the token URL against the
server, so an unprefixed one would post credentials to the wrong place.

Swagger UI and ReDoc load their scripts from `DOCS_ASSETS_URL` (jsDelivr's npm mirror by
default, the same URLs FastAPI uses), so a network without the CDN can serve the same npm
packages itself.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from service.core.access.declaration import TOKEN_PATH
from service.core.settings import get_settings

OPENAPI_PATH = "/v1/openapi.json"
router = APIRouter(include_in_schema=False)


def _prefix(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


def openapi_for_prefix(base: dict[str, Any], prefix: str) -> dict[str, Any]:
    schema = copy.deepcopy(base)
    if prefix:
        schema["servers"] = [{"url": prefix}]
    for scheme in schema.get("components", {}).get("securitySchemes", {}).values():
        password_flow = scheme.get("flows", {}).get("password")
        if password_flow is not None:
            password_flow["tokenUrl"] = prefix + TOKEN_PATH
    return schema


@router.get(OPENAPI_PATH)
async def openapi_document(request: Request) -> JSONResponse:
    return JSONResponse(openapi_for_prefix(request.app.openapi(), _prefix(request)))


@router.get("/v1/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    assets = get_settings(request).docs_assets_url
    return get_swagger_ui_html(
        openapi_url=_prefix(request) + OPENAPI_PATH,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-dist@5/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui-dist@5/swagger-ui.css",
        swagger_ui_parameters={"persistAuthorization": False, "displayRequestDuration": True},
    )


@router.get("/v1/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=_prefix(request) + OPENAPI_PATH,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{get_settings(request).docs_assets_url}/redoc@2/bundles/redoc.standalone.js",
    )
