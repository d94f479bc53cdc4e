"""The application factory: one FastAPI app for both runtimes, shaped by its settings."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.datastructures import State

from service.api.main import API_PREFIX, include_api
from service.api.openapi import install_openapi
from service.core.access.declaration import KNOWN_SCOPES
from service.core.access.route_scopes import install_route_scopes
from service.core.errors import install_error_handlers
from service.core.http import SharedHttpClient, quiet_transport_loggers
from service.core.middleware import ApiEdge
from service.core.request_log import RequestLog
from service.core.settings import IdentityProviderName, Runtime, Settings

TITLE = "FastAPI on AWS Lambda"
VERSION = "0.1.0"
_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class AppState(State):
    """The app's `state`, its members kept as plain attributes.

    Starlette's `State` keeps them in a dict behind `__getattr__`, which Python calls only
    after its normal lookup has failed: about 0.5 µs a read, where a protected request reads
    the settings and the route scopes (docs/performance.md, "The warm whoami"). Written and
    read as any `app.state`; a missing member is still an `AttributeError`.
    """

    def __setattr__(self, key: str, value: Any) -> None:
        object.__setattr__(self, key, value)

    def __delattr__(self, key: str) -> None:
        object.__delattr__(self, key)


def create_app(settings: Settings) -> FastAPI:
    # FastAPI's own docs routes are replaced by `routes/docs.py`, which is prefix-aware.
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # The gateway has one explicit route per operation: a trailing-slash variant is not a
        # route, and a redirect built from the Host header is not something to hand out.
        redirect_slashes=False,
        telemetry=None if settings.fastapi_telemetry_enabled else _TELEMETRY_OFF,
    )
    app.state = AppState()
    app.state.settings = settings
    # Every scope a route may ask for: the embedded issuer's demo admin is granted them all.
    app.state.declared_scopes = tuple(KNOWN_SCOPES)
    app.state.http = SharedHttpClient(timeout_seconds=settings.provider_timeout_seconds)
    # No request URL, header or body of the client's reaches the log (tests/identity/test_logs_carry_no_secrets.py).
    quiet_transport_loggers()
    # Each request's log line and metrics; the SnapStart hooks mark a restore's first request cold.
    app.state.request_log = RequestLog(lambda: app.routes)
    install_error_handlers(app)
    app.add_middleware(ApiEdge, max_bytes=settings.max_request_body_bytes, request_log=app.state.request_log)
    if settings.runtime is Runtime.LOCAL and settings.cors_allow_origins:
        from fastapi.middleware.cors import CORSMiddleware

        # What the HTTP API's CORS configuration does in front of Lambda.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type"],
            max_age=600,
        )
    include_api(app)
    install_openapi(app)
    if settings.docs_enabled:
        from service.api.routes import docs

        app.include_router(docs.router)
    if settings.provider is IdentityProviderName.LOCAL:
        from service.api.routes import local_idp

        app.include_router(local_idp.router, prefix=API_PREFIX)
    # Last, once every route is in: an override must name one the app serves.
    install_route_scopes(app, settings.route_scopes)
    return app
