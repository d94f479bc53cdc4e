"""A local stand-in for API Gateway's HTTP API in front of the Lambda handler.

It plays the parts of the gateway the app relies on, so the Lambda runtime can be driven
over a real socket (by a browser, curl or a test) exactly as API Gateway presents it:

- the public URL carries the stage (`/mvp` on an execute-api domain) or the custom domain's
  API mapping key (`/shop` on `api.example.com`), removed before routing; `rawPath` keeps
  the stage, and keeps the mapping key or not (reports differ, so both can be played);
- only the routes the app declares exist (`describe_routes`, one gateway route each, no
  catch-all); anything else is the gateway's `404 {"message":"Not Found"}`;
- protected routes pass the JWT authorizer first (`LocalAuthorizer.authorize`, the same checks)
  and reach the function with its verdict in `requestContext.authorizer.jwt`; refusals are
  the gateway's 401/403;
- each request becomes a payload 2.0 event (headers lower-cased, duplicates joined with
  commas, cookies apart, body base64-encoded unless it is text) handed to the handler on one
  thread, as one Lambda execution environment serves one invocation at a time; the
  function's answer becomes the HTTP response, and a crash is the gateway's 500.

The function's configuration comes from the environment, as in Lambda (`RUNTIME=LAMBDA`,
`IDENTITY_PROVIDER`, `AWS_API_GW_STAGE_NAME`, `AWS_API_GW_MAPPING_KEY`, ...); the gateway's own
(domain, authorizer issuer, audiences, key set) from the command line:

    RUNTIME=LAMBDA IDENTITY_PROVIDER=oidc OIDC_CLIENT_ID=fastapi-lambda-local \\
    OIDC_TOKEN_URL=http://127.0.0.1:8000/v1/auth/token AWS_API_GW_STAGE_NAME=mvp \\
    .venv/bin/python -m tests.support_gateway --port 8001 \\
        --issuer https://local-idp.invalid --audience fastapi-lambda-local \\
        --jwks-uri http://127.0.0.1:8000/v1/auth/local/.well-known/jwks.json

then open http://127.0.0.1:8001/mvp/v1/docs (with `make dev` serving the issuer on 8000).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import sys
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from service.app import create_app
from service.core.access.claims import JwtContext
from service.core.access.declaration import describe_routes
from service.core.access.local_authorizer import LocalAuthorizer
from service.core.errors import GatewayRejection
from service.core.http import SharedHttpClient
from service.core.settings import Runtime, Settings, SettingsError, build_settings
from service.runtime.gateway_paths import DEFAULT_STAGE, strip_segment_prefix
from service.runtime.lambda_adapter import LambdaHandler, build_handler

EXECUTE_API_DOMAIN = "abc123.execute-api.eu-west-1.amazonaws.com"
CUSTOM_DOMAIN = "api.example.com"
# Lambda's synchronous invocation limit, on the request and on the response.
PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024

# Content types the HTTP API hands to Lambda as text; every other body arrives base64-encoded.
_TEXT_CONTENT_TYPE = re.compile(r"^(text/|application/([\w.+-]+\+)?(json|xml|javascript)\b)", re.IGNORECASE)
_PATH_PARAMETER = re.compile(r"\{(\w+)(\+?)\}")


@dataclass(frozen=True)
class GatewayRoute:
    """One HTTP API route: `routeKey`, its path template and whether the authorizer guards it."""

    method: str
    template: str
    pattern: re.Pattern[str]
    scopes: tuple[str, ...]
    authorized: bool

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.template}"

    @classmethod
    def from_template(cls, *, method: str, template: str, authorized: bool, scopes: Sequence[str]) -> GatewayRoute:
        regex = ""
        position = 0
        for parameter in _PATH_PARAMETER.finditer(template):
            regex += re.escape(template[position : parameter.start()])
            name, greedy = parameter.group(1), parameter.group(2)
            regex += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
            position = parameter.end()
        regex += re.escape(template[position:])
        return cls(
            method=method, template=template, pattern=re.compile(regex), scopes=tuple(scopes), authorized=authorized
        )


def gateway_routes(settings: Settings) -> list[GatewayRoute]:
    """The routes the app declares, as the CDK construct gives them to the HTTP API."""
    routes = [
        GatewayRoute.from_template(
            method=route.method, template=route.path, authorized=not route.public, scopes=route.scopes
        )
        for route in describe_routes(create_app(settings))
    ]
    # The HTTP API prefers the most specific route: fewer path parameters first.
    return sorted(routes, key=lambda route: len(_PATH_PARAMETER.findall(route.template)))


@dataclass(frozen=True)
class PublicAddress:
    """Where the API is published: a domain, and the path prefix in front of the app's routes."""

    domain_name: str
    stage: str
    prefix: str
    prefix_in_raw_path: bool

    @classmethod
    def for_settings(cls, settings: Settings, *, domain_name: str, mapping_key_in_raw_path: bool) -> PublicAddress:
        """The address a function with these settings is published at (stage and key chosen once)."""
        if ".execute-api." in domain_name:
            stage = settings.aws_api_gw_stage_name
            prefix = "" if stage == DEFAULT_STAGE else f"/{stage}"
            return cls(domain_name=domain_name, stage=stage, prefix=prefix, prefix_in_raw_path=True)
        key = settings.aws_api_gw_mapping_key
        return cls(
            domain_name=domain_name,
            stage=settings.aws_api_gw_stage_name,
            prefix=f"/{key}" if key else "",
            prefix_in_raw_path=mapping_key_in_raw_path,
        )


class LambdaContext:
    """The parts of Lambda's context object a handler may read."""

    function_name = "fastapi-lambda-local"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:fastapi-lambda-local"

    def __init__(self, *, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaInvoker(Protocol):
    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The function's answer to one payload 2.0 event."""
        ...


class LambdaFunction:
    """One execution environment: the handler built once on its own thread, one invocation at a time."""

    def __init__(self, settings: Settings, *, timeout_seconds: float = 29.0) -> None:
        self.timeout_seconds = timeout_seconds
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda")
        # Mangum keeps the event loop of the thread that built it; the invocations run there too.
        self._handler: LambdaHandler = self._thread.submit(build_handler, settings).result()

    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        context = LambdaContext(timeout_seconds=self.timeout_seconds)
        future = self._thread.submit(self._handler, event, context)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout=self.timeout_seconds)


def _message(status_code: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status_code)


class HttpApiEmulator:
    """ASGI app playing the HTTP API: routing, JWT authorizer, payload 2.0 events, Lambda responses."""

    def __init__(
        self,
        *,
        function: LambdaInvoker,
        routes: Sequence[GatewayRoute],
        authorizer: LocalAuthorizer,
        address: PublicAddress,
    ) -> None:
        self.function = function
        self.routes = tuple(routes)
        self.authorizer = authorizer
        self.address = address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def match(self, method: str, path: str) -> tuple[GatewayRoute, dict[str, str]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            found = route.pattern.fullmatch(path)
            if found is not None:
                return route, found.groupdict()
        return None

    async def respond(self, request: Request) -> Response:
        public_path: str = request.scope["path"]
        raw_public_path = request.scope.get("raw_path", b"").decode("latin-1") or public_path
        route_path = strip_segment_prefix(public_path, self.address.prefix) if self.address.prefix else public_path
        found = self.match(request.method, route_path) if route_path is not None else None
        if found is None:
            return _message(404, "Not Found")
        route, path_parameters = found

        jwt_context: JwtContext | None = None
        if route.authorized:
            try:
                jwt_context = await self.authorizer.authorize(request.headers.get("authorization"), route.scopes)
            except GatewayRejection as rejection:
                return rejection.to_response()

        body = await request.body()
        if len(body) > PAYLOAD_LIMIT_BYTES:
            return _message(413, "Request Entity Too Large")
        raw_path = raw_public_path
        if not self.address.prefix_in_raw_path and self.address.prefix:
            raw_path = strip_segment_prefix(raw_public_path, self.address.prefix) or "/"
        event = self.event(
            request,
            route=route,
            raw_path=raw_path,
            path_parameters=path_parameters,
            body=body,
            jwt_context=jwt_context,
        )

        try:
            result = await self.function.invoke(event)
        except TimeoutError:
            return _message(503, "Service Unavailable")
        except Exception:  # noqa: BLE001 - a crashed function is the gateway's 500, as in AWS
            return _message(500, "Internal Server Error")
        return self.lambda_response(result)

    def event(
        self,
        request: Request,
        *,
        route: GatewayRoute,
        raw_path: str,
        path_parameters: dict[str, str],
        body: bytes,
        jwt_context: JwtContext | None,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        cookie_header = headers.pop("cookie", "")
        cookies = [cookie.strip() for cookie in cookie_header.split(";") if cookie.strip()]
        client_ip = request.client.host if request.client else "127.0.0.1"
        headers.update(
            {
                "host": self.address.domain_name,
                "x-forwarded-for": client_ip,
                "x-forwarded-port": "443",
                "x-forwarded-proto": "https",
            }
        )
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        is_text = not body or bool(_TEXT_CONTENT_TYPE.match(headers.get("content-type", "")))
        now = time.time()
        request_context: dict[str, Any] = {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": self.address.domain_name,
            "domainPrefix": self.address.domain_name.split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": unquote(raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": route.route_key,
            "stage": self.address.stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        if jwt_context is not None:
            request_context["authorizer"] = {"jwt": {"claims": jwt_context["claims"], "scopes": jwt_context["scopes"]}}
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": request_context,
            "isBase64Encoded": not is_text,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if path_parameters:
            event["pathParameters"] = path_parameters
        if body:
            event["body"] = body.decode("utf-8") if is_text else base64.b64encode(body).decode("ascii")
        return event

    @staticmethod
    def lambda_response(result: dict[str, Any]) -> Response:
        """The function's payload 2.0 answer, as the gateway turns it into an HTTP response."""
        status = result.get("statusCode")
        if not isinstance(status, int):
            return _message(500, "Internal Server Error")
        raw_body = result.get("body") or ""
        body = base64.b64decode(raw_body) if result.get("isBase64Encoded") else str(raw_body).encode("utf-8")
        if len(body) > PAYLOAD_LIMIT_BYTES:
            return _message(500, "Internal Server Error")
        response = Response(content=body, status_code=status)
        for name, value in (result.get("headers") or {}).items():
            response.headers[str(name)] = str(value)
        for cookie in result.get("cookies") or []:
            response.headers.append("set-cookie", str(cookie))
        return response


def build_emulator(
    settings: Settings,
    *,
    domain_name: str,
    mapping_key_in_raw_path: bool,
    issuer: str,
    audiences: Sequence[str],
    jwks_uri: str,
) -> HttpApiEmulator:
    """The HTTP API in front of a Lambda function built from `settings` (RUNTIME=LAMBDA)."""
    if settings.runtime is not Runtime.LAMBDA:
        raise SettingsError("RUNTIME: must be LAMBDA behind the gateway")
    from service.core.access.jwks import RemoteKeySet

    keys = RemoteKeySet(
        issuer=issuer,
        jwks_uri=jwks_uri,
        http=SharedHttpClient(timeout_seconds=5.0),
        refresh_interval_seconds=settings.jwks_refresh_interval_seconds,
    )
    return HttpApiEmulator(
        function=LambdaFunction(settings),
        routes=gateway_routes(settings),
        authorizer=LocalAuthorizer(issuer=issuer, audiences=audiences, keys=keys),
        address=PublicAddress.for_settings(
            settings, domain_name=domain_name, mapping_key_in_raw_path=mapping_key_in_raw_path
        ),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Lambda handler behind a local HTTP API stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--domain-name",
        default=EXECUTE_API_DOMAIN,
        help=f"the public domain: an execute-api one (the stage prefixes paths) or a custom one such as "
        f"{CUSTOM_DOMAIN} (AWS_API_GW_MAPPING_KEY prefixes paths)",
    )
    parser.add_argument(
        "--mapping-key-in-raw-path",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="on a custom domain, whether rawPath keeps the mapping key",
    )
    parser.add_argument("--issuer", required=True, help="the JWT authorizer's issuer")
    parser.add_argument("--audience", action="append", required=True, help="an accepted audience (repeatable)")
    parser.add_argument("--jwks-uri", required=True, help="the issuer's key set")
    args = parser.parse_args(argv)

    try:
        settings = build_settings()
        emulator = build_emulator(
            settings,
            domain_name=args.domain_name,
            mapping_key_in_raw_path=args.mapping_key_in_raw_path,
            issuer=args.issuer,
            audiences=args.audience,
            jwks_uri=args.jwks_uri,
        )
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None

    print(f"HTTP API on http://{args.host}:{args.port}{emulator.address.prefix} as {emulator.address.domain_name}")
    sys.stdout.flush()

    import uvicorn

    uvicorn.run(emulator, host=args.host, port=args.port, log_level="info", server_header=False)


if __name__ == "__main__":
    main()
