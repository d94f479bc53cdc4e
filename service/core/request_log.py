"""One log line per request, which is also the request's metrics (CloudWatch Embedded Metric Format).

The app's edge (`service/core/middleware.py`) writes it when the answer is sent, in both
runtimes: one JSON object on one line of stdout, which Lambda sends to the function's log
group as one log event (AWS docs, "Log and monitor Python Lambda functions"). It opens as the
lines of Lambda's JSON log format do (`timestamp`, `level`, `message`, `logger`, `requestId`:
Lambda's request id; awslambdaric's `JsonFormatter`, what the managed runtime installs for
`LoggingConfig.LogFormat: JSON`) and is written only where the `service.request` logger is
enabled for INFO, which the function's `ApplicationLogLevel` decides (the runtime sets it
on the root logger). The service renders it rather than handing a record to the runtime's
formatter, which cost every request several times more (docs/performance.md, "The request's
line and metrics").

The AWS facts it rests on: docs/aws-facts.md, rows "Lambda JSON log lines", "Embedded metric format".

What the line carries, and what it never does:
- `method`, `route` (the route's template, as the gateway's route key spells it: never the
  raw path, so an id in the path makes no metric of its own), `status`, `durationMs`;
- `apigwRequestId`: API Gateway's `requestContext.requestId`, the id its access log and its
  `apigw-requestid` response header carry (docs/aws-facts.md, row "Request id"; AWS docs, "Working with AWS Lambda proxy
  integrations for HTTP APIs" and "Customizing HTTP API access logs"); a generated one where
  no gateway stands in front (`make dev`);
- `traceId`: the X-Ray trace's root, from `_X_AMZN_TRACE_ID`, which the runtime sets for each
  invocation (AWS docs, "Defined runtime environment variables");
- `coldStart`: whether this is the environment's first request since its init (or since a
  SnapStart restore);
- `sub`: the caller's subject where an authorizer verified one. Never a token, another
  claim, a query string or a body.

The metrics ride on the same line: the `_aws` member at the top level of the log event
names them, and their values are top-level members too (AWS docs, "Specification: Embedded
metric format"). CloudWatch Logs extracts them from a Lambda function's log group without
any API call. One directive counts `Requests`, `Errors4xx`, `Errors5xx` and `Latency` per
`FunctionName` and `Route`; on a cold start a second one counts `ColdStart` per
`FunctionName`. `METRICS` is what the dashboard and the alarms read (`infra/constructs/monitoring.py`).

Hand-written rather than Powertools Metrics or aws-embedded-metrics: each costs the cold
start more than its budget allows, and each writes a record of its own rather than the
request's line (docs/performance.md, "The request's line and metrics").
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, MutableMapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

logger = logging.getLogger("service.request")

# Where a protected route's dependency leaves the verified caller's `sub` in the ASGI scope.
CALLER_SUB = "service.caller_sub"
# The route of a request no route of the app matched: one value, whatever the path.
UNMATCHED_ROUTE = "-"
# Outside Lambda (make dev) there is no function name.
LOCAL_FUNCTION_NAME = "local"

NAMESPACE = "FastApiLambda"
FUNCTION_DIMENSION = "FunctionName"
ROUTE_DIMENSION = "Route"
REQUESTS = "Requests"
ERRORS_4XX = "Errors4xx"
ERRORS_5XX = "Errors5xx"
LATENCY = "Latency"
COLD_START = "ColdStart"
# Each metric with its EMF unit (a CloudWatch StandardUnit).
METRICS = {REQUESTS: "Count", ERRORS_4XX: "Count", ERRORS_5XX: "Count", LATENCY: "Milliseconds", COLD_START: "Count"}

_PER_ROUTE = {
    "Namespace": NAMESPACE,
    "Dimensions": [[FUNCTION_DIMENSION, ROUTE_DIMENSION]],
    "Metrics": [{"Name": name, "Unit": METRICS[name]} for name in (REQUESTS, ERRORS_4XX, ERRORS_5XX, LATENCY)],
}
_COLD_START = {
    "Namespace": NAMESPACE,
    "Dimensions": [[FUNCTION_DIMENSION]],
    "Metrics": [{"Name": COLD_START, "Unit": METRICS[COLD_START]}],
}
# Rendered once: only the timestamp changes from one line to the next.
_WARM_DIRECTIVES_JSON = json.dumps([_PER_ROUTE])
_COLD_DIRECTIVES_JSON = json.dumps([_PER_ROUTE, _COLD_START])


class RequestLog:
    """Writes the line of each request of the app whose routes `routes` returns; one per app."""

    def __init__(self, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        # Set by Lambda in every execution environment (AWS docs, "Defined runtime environment variables").
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or LOCAL_FUNCTION_NAME
        self.cold = True
        self._routes = routes
        self._templates: dict[int, str] = {}
        self._heads: dict[str, str] = {}
        self._second = -1
        self._second_text = ""

    def template(self, route: object) -> str | None:
        """The full path template of the route a request matched (`scope["route"]`), prefixes included.

        An included router's route in the scope is the router's own, whose `path_format`
        lacks the prefixes it was included under; FastAPI's `iter_route_contexts` gives each
        route its effective path. Read on the first request rather than at init: FastAPI
        builds included routers' effective routes lazily, and routing builds them then anyway.
        """
        if route is None:
            return None
        template = self._templates.get(id(route))
        if template is None:
            for context in iter_route_contexts(self._routes()):
                if context.path_format is not None:
                    # A route included twice keeps its first template.
                    self._templates.setdefault(id(context.original_route), context.path_format)
            template = self._templates.setdefault(id(route), getattr(route, "path_format", None) or "")
        return template or None

    def mark_cold(self) -> None:
        """The next request is a cold start again (a SnapStart restore)."""
        self.cold = True

    def write(self, scope: MutableMapping[str, Any], status: int, started: float) -> None:
        """Write the line of the request of `scope`, answered with `status`, begun at `started` (`perf_counter()`)."""
        # Milliseconds to the microsecond, as JSON text (one rendering for durationMs and Latency).
        duration_ms = f"{(time.perf_counter() - started) * 1000:.3f}"
        # The function's ApplicationLogLevel, which the runtime sets on the root logger, decides.
        if not logger.isEnabledFor(logging.INFO):
            return
        template = self.template(scope.get("route"))
        route_key = f"{scope['method']} {template}" if template else UNMATCHED_ROUTE
        head = self._heads.get(route_key)
        if head is None:
            head = self._heads[route_key] = _route_head(scope["method"], route_key, self.function_name)
        event = scope.get("aws.event")
        gateway_id = _gateway_request_id(event)
        context = scope.get("aws.context")
        # Lambda's own request id, which the runtime's JSON lines carry as `requestId`; the local id without it.
        request_id = getattr(context, "aws_request_id", None) or gateway_id
        trace = _trace_root(os.environ.get("_X_AMZN_TRACE_ID"))
        sub = scope.get(CALLER_SUB)
        now = time.time()
        cold = self.cold
        self.cold = False
        # Rendered here rather than by `logging` and the runtime's formatter: a record and its
        # formatting cost every request about 45 µs, this text about a tenth of that (docs/performance.md).
        sys.stdout.write(
            f'{{"timestamp": "{self._timestamp(now)}", "level": "INFO", "message": "request", '
            f'"logger": "{logger.name}", "requestId": {_json(request_id)}, {head}, '
            f'"status": {status}, "durationMs": {duration_ms}, "apigwRequestId": {_json(gateway_id)}, '
            + (f'"traceId": {_json(trace)}, ' if trace else "")
            + f'"coldStart": {"true" if cold else "false"}, '
            + (f'"sub": {_json(sub)}, ' if isinstance(sub, str) else "")
            + f'"{ERRORS_4XX}": {1 if 400 <= status < 500 else 0}, "{ERRORS_5XX}": {1 if status >= 500 else 0}, '
            f'"{LATENCY}": {duration_ms}, '
            + (f'"{COLD_START}": 1, ' if cold else "")
            + f'"_aws": {{"Timestamp": {int(now * 1000)}, "CloudWatchMetrics": '
            f"{_COLD_DIRECTIVES_JSON if cold else _WARM_DIRECTIVES_JSON}}}}}\n"
        )

    def _timestamp(self, now: float) -> str:
        """The runtime's timestamp (`%Y-%m-%dT%H:%M:%SZ`, UTC), formatted once a second."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        return self._second_text


# A string as JSON text (what json.dumps does for one, without its dispatch).
_json = encode_basestring_ascii


def _route_head(method: str, route_key: str, function_name: str) -> str:
    """The line's members that are the same for every request of one route, as JSON text."""
    members: dict[str, str | int] = {"method": method, "route": route_key}
    members.update({FUNCTION_DIMENSION: function_name, ROUTE_DIMENSION: route_key, REQUESTS: 1})
    return json.dumps(members)[1:-1]


def _gateway_request_id(event: Any) -> str:
    if event is not None:
        request_id = event.get("requestContext", {}).get("requestId")
        if isinstance(request_id, str):
            return request_id
    # No gateway in front (make dev): an id of the gateway's length, this request's own.
    return uuid.uuid4().hex[:16]


def _trace_root(header: str | None) -> str | None:
    """`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=...;Sampled=1` -> `1-5759e988-bd862e3fe1be46a994272793`.

    The header's fields come in no fixed order (docs/aws-facts.md, row "X-Ray trace header").
    """
    if not header:
        return None
    if header.startswith("Root="):
        # As Lambda writes it, the root comes first: no need to split the rest.
        return header[5:].partition(";")[0]
    for part in header.split(";"):
        name, _, value = part.partition("=")
        if name.strip() == "Root":
            return value
    return None
