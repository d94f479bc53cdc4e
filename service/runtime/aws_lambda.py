"""The Lambda entry point: `service.runtime.aws_lambda.handler`.

Everything here runs once per execution environment (cold start); each invocation then
costs Mangum's translation and the route itself.
"""

from __future__ import annotations

import logging
from typing import Any

from mangum import Mangum

from service.app import create_app
from service.core.settings import Runtime, SettingsError, load_settings
from service.runtime.gateway_paths import GatewayPathPrefix

logger = logging.getLogger("service.lambda")

settings = load_settings()
if settings.runtime is not Runtime.LAMBDA:
    # Anything else would make the app verify tokens itself, or trust none: refuse to start.
    raise SettingsError("RUNTIME: must be LAMBDA for the Lambda handler")

app = create_app(settings)
_adapter = Mangum(
    GatewayPathPrefix(app, stage_name=settings.aws_api_gw_stage_name, mapping_key=settings.aws_api_gw_mapping_key),
    lifespan="off",
)


def is_http_api_event(event: Any) -> bool:
    """An HTTP API payload format 2.0 event, the only kind this function is wired to."""
    if not isinstance(event, dict) or event.get("version") != "2.0":
        return False
    request_context = event.get("requestContext")
    http = request_context.get("http") if isinstance(request_context, dict) else None
    return (
        isinstance(http, dict)
        and isinstance(http.get("method"), str)
        and isinstance(event.get("rawPath"), str)
        and event["rawPath"].startswith("/")
    )


def handler(event: Any, context: Any) -> dict[str, Any]:
    if not is_http_api_event(event):
        logger.error("rejected an event that is not an HTTP API payload 2.0 event")
        return {
            "statusCode": 400,
            "headers": {"content-type": "application/problem+json"},
            "body": '{"type":"about:blank","title":"Bad Request","status":400,'
            '"detail":"Not an HTTP API payload 2.0 event.","code":"unsupported_event"}',
            "isBase64Encoded": False,
        }
    return _adapter(event, context)
