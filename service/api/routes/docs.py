"""Swagger UI, ReDoc and the OpenAPI document, correct behind any path prefix.

Behind API Gateway the public URL starts with `/{stage}` or `/{mapping key}` (the app's
root path). The document is rendered per request so that both its server URL and the
password flow's token URL carry that prefix: Swagger UI resolves the token URL against the
server, so an unprefixed one would post credentials to the wrong place.

Swagger UI and ReDoc load their scripts, style sheet and favicon from `DOCS_ASSETS_URL`
(jsDelivr's npm mirror by default), so a network without the CDN can serve the same npm
packages itself; `make dev` serves them from the app. With `DOCS_ASSETS_INTEGRITY` (set by
the CDK construct from the pinned packages) each URL names the exact version and carries its
subresource integrity, so a changed file on the CDN is refused by the browser instead of run
with the user's token in reach. An integrity check needs a CORS request (`crossorigin`), which
jsDelivr answers with `Access-Control-Allow-Origin: *`
(https://github.com/jsdelivr/jsdelivr/issues/18038); a mirror must too. ReDoc's Google Fonts
stay off: a style sheet from a third party that no integrity can pin.
"""

# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

import copy
import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from service.core.access.declaration import TOKEN_PATH
from service.core.settings import Settings, get_settings

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


# Each asset: its package, its major version where no exact one is configured, its file.
SWAGGER_JS = ("swagger-ui-dist", "5", "swagger-ui-bundle.js")
SWAGGER_CSS = ("swagger-ui-dist", "5", "swagger-ui.css")
FAVICON = ("swagger-ui-dist", "5", "favicon-32x32.png")
REDOC_JS = ("redoc", "2", "bundles/redoc.standalone.js")


def asset(settings: Settings, package: str, major: str, file: str) -> tuple[str, str | None]:
    """The asset's URL and integrity: the configured exact version, or the major one without."""
    for path, integrity in settings.docs_assets_integrity.items():
        served_as, _, name = path.partition("/")
        if name == file and served_as.rpartition("@")[0] == package:
            return f"{settings.docs_assets_url}/{path}", integrity
    return f"{settings.docs_assets_url}/{package}@{major}/{file}", None


def with_integrity(page: HTMLResponse, assets: list[tuple[str, str | None]]) -> HTMLResponse:
    """`page` with `integrity` and `crossorigin` on each element that loads one of `assets`.

    The favicon has none: browsers check integrity on scripts and style sheets only; it comes
    from the same pinned version all the same.
    """
    text = bytes(page.body).decode()
    for url, integrity in assets:
        if integrity is not None:
            quoted = f'="{url}"'
            text = text.replace(quoted, f'{quoted} integrity="{html.escape(integrity)}" crossorigin="anonymous"')
    return HTMLResponse(text)


@router.get("/v1/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    settings = get_settings(request)
    js, css, favicon = (asset(settings, *which) for which in (SWAGGER_JS, SWAGGER_CSS, FAVICON))
    page = get_swagger_ui_html(
        openapi_url=_prefix(request) + OPENAPI_PATH,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=js[0],
        swagger_css_url=css[0],
        swagger_favicon_url=favicon[0],
        swagger_ui_parameters={"persistAuthorization": False, "displayRequestDuration": True},
    )
    return with_integrity(page, [js, css])


@router.get("/v1/redoc")
async def redoc(request: Request) -> HTMLResponse:
    settings = get_settings(request)
    js, favicon = asset(settings, *REDOC_JS), asset(settings, *FAVICON)
    page = get_redoc_html(
        openapi_url=_prefix(request) + OPENAPI_PATH,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=js[0],
        redoc_favicon_url=favicon[0],
        with_google_fonts=False,
    )
    return with_integrity(page, [js])
