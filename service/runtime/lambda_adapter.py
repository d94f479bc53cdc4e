"""Turns HTTP API payload 2.0 events into ASGI requests for the app (through Mangum)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mangum import Mangum

from service.app import create_app
from service.core.settings import Settings
from service.runtime.gateway_paths import GatewayPathPrefix

logger = logging.getLogger("service.lambda")

LambdaHandler = Callable[[Any, Any], dict[str, Any]]

_UNSUPPORTED_EVENT = {
    "statusCode": 400,
    "headers": {"content-type": "application/problem+json"},
    "body": '{"type":"about:blank","title":"Bad Request","status":400,'
    '"detail":"Not an HTTP API payload 2.0 event.","code":"unsupported_event"}',
    "isBase64Encoded": False,
}


def is_http_api_event(event: Any) -> bool:
    """An HTTP API payload format 2.0 event, the only kind this function is wired to."""
    if not isinstance(event, dict) or event.get("version") != "2.0":
        return False
    request_context = event.get("requestContext")
    http = request_context.get("http") if isinstance(request_context, dict) else None
    raw_path = event.get("rawPath")
    return (
        isinstance(http, dict)
        and isinstance(http.get("method"), str)
        and isinstance(raw_path, str)
        and raw_path.startswith("/")
    )


def build_handler(settings: Settings) -> LambdaHandler:
    """A Lambda handler serving the app built from `settings`."""
    app = create_app(settings)
    adapter = Mangum(
        GatewayPathPrefix(app, stage_name=settings.aws_api_gw_stage_name, mapping_key=settings.aws_api_gw_mapping_key),
        lifespan="off",
    )

    def handler(event: Any, context: Any) -> dict[str, Any]:
        if not is_http_api_event(event):
            logger.error("rejected an event that is not an HTTP API payload 2.0 event")
            return dict(_UNSUPPORTED_EVENT)
        return adapter(event, context)

    return handler
