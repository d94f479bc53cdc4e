"""API Gateway's HTTP API on loopback, as the synthesized template configures it.

It plays the parts of the gateway a client and the function meet, from the template alone
(`sandbox.assembly.HttpApi`), so a fault in the CDK layer shows here as it would in AWS:

- the public URL carries the stage (`/mvp` on the execute-api domain) or a custom domain's
  API mapping key (`/shop` on `api.example.com`), removed before routing; `rawPath` keeps the
  stage, and keeps the mapping key or not (reports differ, so both can be played);
- only the template's routes exist (route keys, `{param}` and `{proxy+}`, `ANY`, `$default`);
  anything else is the gateway's `404 {"message":"Not Found"}`;
- a route with the JWT authorizer passes it first (issuer, audiences, identity source and the
  route's scopes from the template; the same checks as `LocalAuthorizer`) and reaches the
  function with the verdict in `requestContext.authorizer.jwt`, the claims rendered by the
  sandbox's own `claim_text.gateway_claims` (Go-style ``map[k:v]``, ``[a b]``, nulls left
  out); refusals are the gateway's 401/403; the stage's throttling refuses with 429; CORS is answered from the API's
  configuration, before any route;
- each request becomes a payload 2.0 event (headers lower-cased, duplicates joined with
  commas, cookies apart, body base64-encoded unless it is text), 6 MB at most, handed to the
  route's function; its answer becomes the HTTP response. A function that fails (an error,
  a crash, an init failure, its timeout) is the gateway's `500 {"message":"Internal Server
  Error"}`; one that outlasts the integration's timeout (30 s at most) is `503 {"message":
  "Service Unavailable"}`, as API Gateway answers.
- one access log line per request, in the stage's own format (`$context.*` variables).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from sandbox.assembly import DEFAULT_STAGE, Cors, CustomDomain, HttpApi, JwtAuthorizer, Route
from sandbox.claim_text import gateway_claims
from sandbox.runtime_api import SANDBOX_ACCOUNT, SANDBOX_REGION, Outcome
from service.core.access.claims import JwtContext
from service.core.access.local_authorizer import KeySource, LocalAuthorizer
from service.core.errors import GatewayRejection

SANDBOX_API_ID = "sandbox123"
EXECUTE_API_DOMAIN = f"{SANDBOX_API_ID}.execute-api.{SANDBOX_REGION}.amazonaws.com"
# Lambda's synchronous invocation limit, on the event and on the response ("Invocation payload
# (request and response): 6 MB each for synchronous", Lambda developer guide, "Lambda quotas").
# docs/aws-facts.md, row "Payload limit"
PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024

# Content types the HTTP API hands to Lambda as text; every other body arrives base64-encoded.
_TEXT_CONTENT_TYPE = re.compile(r"^(text/|application/([\w.+-]+\+)?(json|xml|javascript)\b)", re.IGNORECASE)
_PATH_PARAMETER = re.compile(r"\{(\w+)(\+?)\}")
_CONTEXT_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.]+)")


class LambdaInvoker(Protocol):
    async def invoke(self, event: bytes) -> Outcome:
        """The function's answer to one payload 2.0 event (JSON)."""
        ...


def strip_segment_prefix(path: str, prefix: str) -> str | None:
    """`path` without `prefix` when it begins with it as whole segments, else None.

    The gateway's own rule, kept here rather than imported from the service (whose
    `gateway_paths` undoes the same prefix): the emulation shares no code with the function
    behind it, so a fault in one shows up against the other.
    """
    if path == prefix:
        return "/"
    if path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return None


# What `rawPath` holds before the route behind a custom domain: reports differ
# (docs/aws-facts.md, row "rawPath behind a custom domain").
# - "none": AWS's payload 2.0 documentation ("Create AWS Lambda proxy integrations for HTTP
#   APIs": with an API mapping, `rawPath` won't provide the API mapping value). The default.
# - "stage": a captured report, CodeGenieApp/serverless-express issue 465 (`/{stageName}/foo`).
# - "key": the mapping key, which no source shows; kept to check the function accepts it.
# docs/aws-facts.md, row "rawPath behind a custom domain"
RAW_PATH_SHAPES = ("none", "stage", "key")
DEFAULT_RAW_PATH_SHAPE = "none"


@dataclass(frozen=True)
class PublicAddress:
    """Where the API is published: a domain, the path prefix in front of the routes, and what rawPath holds instead."""

    domain_name: str
    stage: str
    prefix: str
    raw_prefix: str

    @classmethod
    def execute_api(cls, api: HttpApi) -> PublicAddress:
        prefix = "" if api.stage_name == DEFAULT_STAGE else f"/{api.stage_name}"
        return cls(domain_name=EXECUTE_API_DOMAIN, stage=api.stage_name, prefix=prefix, raw_prefix=prefix)

    @classmethod
    def custom_domain(
        cls, api: HttpApi, domain: CustomDomain, *, raw_path: str = DEFAULT_RAW_PATH_SHAPE
    ) -> PublicAddress:
        key = domain.mapping_key.strip("/")
        prefix = f"/{key}" if key else ""
        stage = "" if api.stage_name == DEFAULT_STAGE else f"/{api.stage_name}"
        raw_prefixes = {"none": "", "stage": stage, "key": prefix}
        return cls(
            domain_name=domain.domain_name, stage=api.stage_name, prefix=prefix, raw_prefix=raw_prefixes[raw_path]
        )


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    pattern: re.Pattern[str] | None  # None: the $default route

    @classmethod
    def of(cls, route: Route) -> _CompiledRoute:
        template = route.path
        if template is None:
            return cls(route=route, pattern=None)
        regex = ""
        position = 0
        for parameter in _PATH_PARAMETER.finditer(template):
            regex += re.escape(template[position : parameter.start()])
            name, greedy = parameter.group(1), parameter.group(2)
            regex += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
            position = parameter.end()
        regex += re.escape(template[position:])
        return cls(route=route, pattern=re.compile(regex))

    @property
    def precedence(self) -> tuple[int, int, int]:
        """API Gateway prefers a literal path, then fewer parameters, greedy ones last; `$default` after all."""
        template = self.route.path
        if template is None:
            return (2, 0, 0)
        parameters = _PATH_PARAMETER.findall(template)
        greedy = sum(1 for _, plus in parameters if plus)
        return (1 if greedy else 0, len(parameters), self.route.method == "ANY")


class TokenBucket:
    """A route's throttling: `rate` requests per second on average, `burst` at once."""

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# The gateway's own answers, `{"message": ...}` by status.
# docs/aws-facts.md, row "Gateway answers"
GATEWAY_MESSAGES = {
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _message(status_code: int) -> Response:
    return JSONResponse({"message": GATEWAY_MESSAGES[status_code]}, status_code=status_code)


@dataclass
class _RequestLog:
    """What the stage's access log line says about one request."""

    request_id: str
    started: float
    method: str
    path: str
    source_ip: str
    protocol: str
    route_key: str = "-"
    status: int = 0
    response_length: int = 0
    integration_latency: str = "-"
    integration_status: str = "-"
    integration_error: str = "-"
    authorizer_error: str = "-"


class HttpApiGateway:
    """ASGI app playing one HTTP API at one public address."""

    def __init__(
        self,
        *,
        api: HttpApi,
        address: PublicAddress,
        functions: Mapping[str, LambdaInvoker],
        authorizers: Mapping[JwtAuthorizer, LocalAuthorizer],
        access_log: Callable[[str], None] | None = None,
    ) -> None:
        self.api = api
        self.address = address
        self.functions = functions
        self.authorizers = authorizers
        self.access_log = access_log
        self.routes = sorted((_CompiledRoute.of(route) for route in api.routes), key=lambda r: r.precedence)
        self._buckets = {
            route.route_key: TokenBucket(rate=route.throttle.rate_limit, burst=route.throttle.burst_limit)
            for route in api.routes
            if route.throttle.rate_limit is not None and route.throttle.burst_limit is not None
        }
        # Invocations the gateway stopped waiting for (integration timeout) run on to their end.
        self._running: set[asyncio.Task[Outcome]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        log = _RequestLog(
            request_id=uuid.uuid4().hex[:16],
            started=time.monotonic(),
            method=request.method,
            path=scope["path"],
            source_ip=request.client.host if request.client else "127.0.0.1",
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
        )
        try:
            response = await self.respond(request, log)
        except ClientDisconnect:
            # The client hung up before its body arrived: no answer to send, but the access log
            # still gets its line (status "-": none was sent) and no traceback reaches the log.
            self._write_access_log(log)
            return
        response.headers["apigw-requestid"] = log.request_id
        log.status = response.status_code
        log.response_length = len(getattr(response, "body", b""))
        await response(scope, receive, send)
        self._write_access_log(log)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for compiled in self.routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            if compiled.pattern is None:
                return compiled.route, {}
            found = compiled.pattern.fullmatch(path)
            if found is not None:
                return compiled.route, found.groupdict()
        return None

    async def respond(self, request: Request, log: _RequestLog) -> Response:
        if self.address.domain_name == EXECUTE_API_DOMAIN and self.api.execute_api_endpoint_disabled:
            # AWS documents a disabled default endpoint's answer as 403 Forbidden (REST APIs: "Disable
            # the default endpoint"); HTTP APIs' page says only that it is disabled, for every stage.
            return _message(403)
        public_path: str = request.scope["path"]
        raw_public_path = request.scope.get("raw_path", b"").decode("latin-1") or public_path
        route_path = strip_segment_prefix(public_path, self.address.prefix) if self.address.prefix else public_path
        if route_path is None:
            return _message(404)
        cors = self.api.cors
        origin = request.headers.get("origin")
        if (
            cors is not None
            and request.method == "OPTIONS"
            and origin
            and "access-control-request-method" in request.headers
        ):
            # With CORS configured the gateway answers every preflight itself; no route sees it.
            return _preflight(cors, origin)
        found = self.match(request.method, route_path)
        if found is None:
            return _message(404)
        route, path_parameters = found
        log.route_key = route.route_key

        bucket = self._buckets.get(route.route_key)
        if bucket is not None and not bucket.take():
            return _message(429)

        jwt_context: JwtContext | None = None
        if route.authorizer is not None:
            try:
                jwt_context = await self._authorize(route, request)
            except GatewayRejection as rejection:
                log.authorizer_error = rejection.description
                return rejection.to_response()

        body = await _read_body(request)
        if body is None:
            return _message(413)
        raw_path = raw_public_path
        if self.address.prefix != self.address.raw_prefix:
            raw_path = self.address.raw_prefix + (strip_segment_prefix(raw_public_path, self.address.prefix) or "/")
        event = self.event(
            request,
            route=route,
            raw_path=raw_path,
            path_parameters=path_parameters,
            body=body,
            jwt_context=jwt_context,
            # One id per request, as API Gateway has it: the event's, the access log's and the
            # `apigw-requestid` header's (AWS docs, "Customizing HTTP API access logs": $context.requestId).
            request_id=log.request_id,
        )
        payload = json.dumps(event).encode()
        if len(payload) > PAYLOAD_LIMIT_BYTES:
            return _message(413)
        response = await self._integrate(route, payload, log)
        if cors is not None and origin:
            _add_cors_headers(response, cors, origin)
        return response

    async def _authorize(self, route: Route, request: Request) -> JwtContext:
        assert route.authorizer is not None
        values = [request.headers.get(name) for name in route.authorizer.identity_headers]
        if not all(values):
            raise GatewayRejection.unauthorized("the identity source is missing")
        return await self.authorizers[route.authorizer].authorize(values[0], route.scopes)

    async def _integrate(self, route: Route, payload: bytes, log: _RequestLog) -> Response:
        started = time.monotonic()
        invocation = asyncio.ensure_future(self.functions[route.function.logical_id].invoke(payload))
        self._running.add(invocation)
        invocation.add_done_callback(self._running.discard)
        await asyncio.wait({invocation}, timeout=route.integration_timeout_seconds)
        log.integration_latency = str(round((time.monotonic() - started) * 1000))
        if not invocation.done():
            log.integration_error = "The integration did not answer within its timeout"
            return _message(503)
        try:
            outcome = invocation.result()
        except Exception as error:  # noqa: BLE001 - a fault of the sandbox's own is still the gateway's 500
            log.integration_error = f"the function could not be invoked: {type(error).__name__}"
            return _message(500)
        log.integration_status = "200"
        if not outcome.succeeded:
            log.integration_error = f"{outcome.error_type}: {outcome.error_message}"
            return _message(500)
        assert outcome.payload is not None
        return self.lambda_response(outcome.payload, log)

    def event(
        self,
        request: Request,
        *,
        route: Route,
        raw_path: str,
        path_parameters: dict[str, str],
        body: bytes,
        jwt_context: JwtContext | None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        cookie_header = headers.pop("cookie", "")
        cookies = [cookie.strip() for cookie in cookie_header.split(";") if cookie.strip()]
        client_ip = request.client.host if request.client else "127.0.0.1"
        now = time.time()
        headers.update(
            {
                "host": self.address.domain_name,
                "x-amzn-trace-id": f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}",
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
        request_context: dict[str, Any] = {
            "accountId": SANDBOX_ACCOUNT,
            "apiId": SANDBOX_API_ID,
            "domainName": self.address.domain_name,
            "domainPrefix": self.address.domain_name.split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": unquote(raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id or uuid.uuid4().hex[:16],
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
            event["body"] = body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode("ascii")
        return event

    @staticmethod
    def lambda_response(payload: bytes, log: _RequestLog | None = None) -> Response:
        """The function's payload 2.0 answer, as the gateway turns it into an HTTP response.

        An object with `statusCode` is a response; any other JSON is the body of a 200, as
        the HTTP API infers it. What cannot be read is the gateway's 500.
        """
        try:
            result = json.loads(payload)
        except ValueError:
            return _message(500)
        if not isinstance(result, dict) or "statusCode" not in result:
            return Response(payload, status_code=200, media_type="application/json")
        status = result.get("statusCode")
        if not isinstance(status, int) or not 100 <= status <= 599:
            if log is not None:
                log.integration_error = "The function's response has no valid statusCode"
            return _message(500)
        raw_body = result.get("body") or ""
        try:
            body = base64.b64decode(raw_body) if result.get("isBase64Encoded") else str(raw_body).encode("utf-8")
        except (ValueError, TypeError):
            return _message(500)
        response = Response(content=body, status_code=status)
        for name, value in (result.get("headers") or {}).items():
            response.headers[str(name)] = str(value)
        for cookie in result.get("cookies") or []:
            response.headers.append("set-cookie", str(cookie))
        return response

    def _write_access_log(self, log: _RequestLog) -> None:
        if self.access_log is None or self.api.access_log_format is None:
            return
        values = {
            "requestId": log.request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "identity.sourceIp": log.source_ip,
            "httpMethod": log.method,
            "path": log.path,
            "routeKey": log.route_key,
            "status": str(log.status) if log.status else "-",
            "protocol": log.protocol,
            "responseLength": str(log.response_length),
            "responseLatency": str(round((time.monotonic() - log.started) * 1000)),
            "integration.latency": log.integration_latency,
            "integration.status": log.integration_status,
            "integrationErrorMessage": log.integration_error,
            "authorizer.error": log.authorizer_error,
            "domainName": self.address.domain_name,
            "stage": self.address.stage,
            "apiId": SANDBOX_API_ID,
        }

        def substitute(match: re.Match[str]) -> str:
            # Inside the format's JSON strings: escaped as JSON text.
            return json.dumps(values.get(match.group(1), "-"))[1:-1]

        self.access_log(_CONTEXT_VARIABLE.sub(substitute, self.api.access_log_format))


async def _read_body(request: Request) -> bytes | None:
    """The request's body, or None once it passes Lambda's 6 MB: read in chunks, never held past the limit.

    API Gateway refuses such a request itself, before the function; the event (the body and the
    rest) is measured again once built. uvicorn drops what the client still sends once the answer
    is out.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > PAYLOAD_LIMIT_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > PAYLOAD_LIMIT_BYTES:
            return None
    return bytes(body)


def _origin_allowed(cors: Cors, origin: str) -> str | None:
    """The `access-control-allow-origin` value for `origin`, or None when it is not allowed."""
    if origin in cors.allow_origins:
        return origin
    if "*" in cors.allow_origins:
        return "*"
    return None


def _preflight(cors: Cors, origin: str) -> Response:
    response = Response(status_code=204)
    allowed = _origin_allowed(cors, origin)
    if allowed is not None:
        response.headers["access-control-allow-origin"] = allowed
        if cors.allow_methods:
            response.headers["access-control-allow-methods"] = ",".join(cors.allow_methods)
        if cors.allow_headers:
            response.headers["access-control-allow-headers"] = ",".join(cors.allow_headers)
        if cors.max_age_seconds is not None:
            response.headers["access-control-max-age"] = str(cors.max_age_seconds)
        if cors.allow_credentials:
            response.headers["access-control-allow-credentials"] = "true"
    return response


def _add_cors_headers(response: Response, cors: Cors, origin: str) -> None:
    # With CORS configured the gateway's own CORS headers replace the function's.
    for name in [name for name in response.headers if name.lower().startswith("access-control-")]:
        del response.headers[name]
    allowed = _origin_allowed(cors, origin)
    if allowed is None:
        return
    response.headers["access-control-allow-origin"] = allowed
    if cors.expose_headers:
        response.headers["access-control-expose-headers"] = ",".join(cors.expose_headers)
    if cors.allow_credentials:
        response.headers["access-control-allow-credentials"] = "true"


def build_authorizers(
    api: HttpApi, key_sources: Callable[[JwtAuthorizer], KeySource]
) -> dict[JwtAuthorizer, LocalAuthorizer]:
    """One JWT authorizer per authorizer of the template: its issuer, its audiences, keys from `key_sources`."""
    authorizers = {route.authorizer for route in api.routes if route.authorizer is not None}
    return {
        authorizer: LocalAuthorizer(
            issuer=authorizer.issuer,
            audiences=authorizer.audiences,
            keys=key_sources(authorizer),
            # The verification is the service's; the rendering handed to the function is the sandbox's own.
            render=gateway_claims,
        )
        for authorizer in authorizers
    }
