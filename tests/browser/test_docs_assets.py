"""Where the docs pages load Swagger UI and ReDoc from: FastAPI's CDN URLs, or `DOCS_ASSETS_URL`."""

from __future__ import annotations

import inspect
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
