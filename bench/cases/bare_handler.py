"""Python's own floor: a Lambda handler that returns JSON, and an ASGI app that does the same.

Nothing but the standard library: no routing, no validation, no framework.
"""

import json
from typing import Any

BODY = {"status": "ok"}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(BODY)}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same answer as a bare ASGI app, for the local server's reference row."""
    if scope["type"] != "http":
        return
    body = json.dumps(BODY).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
