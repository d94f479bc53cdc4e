"""A broken version's handler: the service's, except that whoami answers 500, as a bug in the route's body would.

Only a request the authorizer let through reaches a route's body: one without the authorizer's
context is refused before, as the service refuses it.

The tests copy it into a copy of the asset and name it in the template's `Handler`, so it runs
under the runtime client exactly as the service's handler does. It is never part of the bundle.
"""

from __future__ import annotations

import json
from typing import Any

from service.runtime.aws_lambda import handler as service_handler

BROKEN_SUFFIX = "/v1/users/whoami"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    authorized = "authorizer" in event.get("requestContext", {})
    if authorized and str(event.get("rawPath", "")).endswith(BROKEN_SUFFIX):
        problem = {"type": "about:blank", "title": "Internal Server Error", "status": 500}
        return {
            "statusCode": 500,
            "headers": {"content-type": "application/problem+json"},
            "body": json.dumps(problem),
            "isBase64Encoded": False,
        }
    answer: dict[str, Any] = service_handler(event, context)
    return answer
