"""Where the app sits in the public URL behind API Gateway.

On the execute-api domain a named stage puts `/{stage}` in front of every path, and in
`rawPath`. Behind a custom domain the public URL starts with `/{mapping key}`, which may or
may not reach `rawPath`, so both are accepted. The prefix is matched by whole segments
(`/mvp` never eats `/mvpx`), removed for routing and given to the app as its root path, so
that the docs load their spec and token URL from the public address. Mangum's own
`api_gateway_base_path` is a plain string-prefix test and sets no root path, so it is not used.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_STAGE = "$default"
_EXECUTE_API_DOMAIN = re.compile(r"\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def strip_segment_prefix(path: str, prefix: str) -> str | None:
    """`path` without `prefix` when it begins with it as whole segments, else None."""
    if path == prefix:
        return "/"
    if path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return None


@lru_cache(maxsize=64)
def _is_execute_api_domain(domain: str) -> bool:
    # A function sees the API's execute-api domain and its custom domains: a handful of
    # names, each tested once rather than on every request.
    return bool(_EXECUTE_API_DOMAIN.search(domain))


def public_prefix(event: Any, *, stage_name: str, mapping_key: str) -> tuple[str, bool]:
    """The request's public path prefix, and whether `rawPath` must carry it."""
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    domain = request_context.get("domainName") if isinstance(request_context, dict) else None
    on_execute_api = not isinstance(domain, str) or _is_execute_api_domain(domain)
    if on_execute_api:
        return ("" if stage_name == DEFAULT_STAGE else f"/{stage_name}"), True
    return (f"/{mapping_key}" if mapping_key else ""), False


class GatewayPathPrefix:
    """ASGI middleware: route on the app's own path, with the public prefix as root path."""

    def __init__(self, app: ASGIApp, *, stage_name: str, mapping_key: str) -> None:
        self.app = app
        self.stage_name = stage_name
        self.mapping_key = mapping_key.strip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            prefix, in_raw_path = public_prefix(
                scope.get("aws.event"), stage_name=self.stage_name, mapping_key=self.mapping_key
            )
            if prefix:
                path: str = scope["path"]
                app_path = strip_segment_prefix(path, prefix)
                if app_path is not None or not in_raw_path:
                    # Starlette routes on `path` minus `root_path`, so `path` keeps the prefix.
                    scope = {**scope, "root_path": prefix, "path": prefix + (app_path or path)}
        await self.app(scope, receive, send)
