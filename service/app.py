"""The application factory: one FastAPI app for both runtimes, shaped by its settings."""

from __future__ import annotations

from fastapi import FastAPI

from service.api.main import api_router
from service.core.errors import install_error_handlers
from service.core.http import SharedHttpClient
from service.core.settings import IdentityProviderName, Settings

TITLE = "FastAPI on AWS Lambda"
VERSION = "0.1.0"


def create_app(settings: Settings) -> FastAPI:
    # FastAPI's own docs routes are replaced by `routes/docs.py`, which is prefix-aware.
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.settings = settings
    app.state.http = SharedHttpClient(timeout_seconds=settings.provider_timeout_seconds)
    install_error_handlers(app)
    app.include_router(api_router)
    if settings.docs_enabled:
        from service.api.routes import docs

        app.include_router(docs.router)
    if settings.provider is IdentityProviderName.LOCAL:
        from service.api.routes import local_idp

        app.include_router(local_idp.router, prefix="/v1")
    return app
