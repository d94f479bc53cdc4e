"""Where the docs pages load Swagger UI and ReDoc from: FastAPI's CDN URLs, or `DOCS_ASSETS_URL`."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.testclient import TestClient

from service.app import create_app
from service.core.settings import Settings, SettingsError, build_settings


def _fastapi_default(function: Callable[..., object], parameter: str) -> str:
    default = inspect.signature(function).parameters[parameter].default
    assert isinstance(default, str)
    return default


def _pages(settings: Settings) -> tuple[str, str]:
    with TestClient(create_app(settings)) as client:
        return client.get("/v1/docs").text, client.get("/v1/redoc").text


def test_by_default_the_pages_load_the_same_cdn_urls_as_fastapi(tmp_path: Path) -> None:
    swagger, redoc = _pages(Settings(local_idp_key_file=tmp_path / "key.pem"))

    assert _fastapi_default(get_swagger_ui_html, "swagger_js_url") in swagger
    assert _fastapi_default(get_swagger_ui_html, "swagger_css_url") in swagger
    assert _fastapi_default(get_redoc_html, "redoc_js_url") in redoc


def test_a_mirror_serves_every_asset_of_both_pages(tmp_path: Path) -> None:
    mirror = "http://127.0.0.1:9/npm-mirror"
    swagger, redoc = _pages(Settings(docs_assets_url=mirror + "/", local_idp_key_file=tmp_path / "key.pem"))

    assert f'src="{mirror}/swagger-ui-dist@5/swagger-ui-bundle.js"' in swagger
    assert f'href="{mirror}/swagger-ui-dist@5/swagger-ui.css"' in swagger
    assert f'src="{mirror}/redoc@2/bundles/redoc.standalone.js"' in redoc
    assert "cdn.jsdelivr.net" not in swagger + redoc


def test_a_relative_assets_url_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="DOCS_ASSETS_URL"):
        build_settings(docs_assets_url="/static")


def test_exact_versions_name_each_asset_with_its_integrity(tmp_path: Path) -> None:
    integrity = {
        "swagger-ui-dist@5.35.0/swagger-ui-bundle.js": "sha384-" + "A" * 64,
        "swagger-ui-dist@5.35.0/swagger-ui.css": "sha384-" + "B" * 64,
        "swagger-ui-dist@5.35.0/favicon-32x32.png": "sha384-" + "C" * 64,
        "redoc@2.5.4/bundles/redoc.standalone.js": "sha384-" + "D" * 64,
    }
    mirror = "https://cdn.example.com/npm"
    settings = build_settings(
        docs_assets_url=mirror, docs_assets_integrity=json.dumps(integrity), local_idp_key_file=str(tmp_path / "k")
    )
    swagger, redoc = _pages(settings)

    for path in ("swagger-ui-dist@5.35.0/swagger-ui-bundle.js", "redoc@2.5.4/bundles/redoc.standalone.js"):
        assert f'src="{mirror}/{path}" integrity="{integrity[path]}" crossorigin="anonymous"' in swagger + redoc
    css = "swagger-ui-dist@5.35.0/swagger-ui.css"
    assert f'href="{mirror}/{css}" integrity="{integrity[css]}" crossorigin="anonymous"' in swagger
    # The favicon from the same pinned package, in both pages (browsers check no integrity on icons).
    assert swagger.count(f'href="{mirror}/swagger-ui-dist@5.35.0/favicon-32x32.png"') == 1
    assert redoc.count(f'href="{mirror}/swagger-ui-dist@5.35.0/favicon-32x32.png"') == 1
    assert "fonts.googleapis.com" not in redoc


@pytest.mark.parametrize(
    "value",
    ["not json", '{"swagger-ui-bundle.js": "sha384-AAAA"}', '{"redoc@2.5.4/bundles/r.js": "md5-AAAA"}'],
)
def test_a_bad_integrity_list_stops_start_up_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="DOCS_ASSETS_INTEGRITY"):
        build_settings(docs_assets_integrity=value)
