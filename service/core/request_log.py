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

import itertools
import json
import logging
import os
import sys
import time
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
# The members that depend only on whether this is a cold start, rendered once: what the line says
# of it, the ColdStart metric's value, and the EMF directives (the second names ColdStart).
_WARM = ('"coldStart": false, ', "", json.dumps([_PER_ROUTE]))
_COLD = ('"coldStart": true, ', f'"{COLD_START}": 1, ', json.dumps([_PER_ROUTE, _COLD_START]))
# The error counts by the status's hundreds: 0 and 1 rendered once, never per request.
_ERROR_COUNTS = {
    hundreds: f'"{ERRORS_4XX}": {int(hundreds == 4)}, "{ERRORS_5XX}": {int(hundreds >= 5)}, ' for hundreds in range(10)
}
# The line's route members kept rendered: every route and method of an app, with room to spare.
_HEADS_KEPT = 512
# Set by Lambda's runtime for each invocation.
# docs/aws-facts.md, row "X-Ray trace header"
TRACE_ENVIRONMENT_VARIABLE = "_X_AMZN_TRACE_ID"


class RequestLog:
    """Writes the line of each request of the app whose routes `routes` returns; one per app."""

    def __init__(self, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        # Set by Lambda in every execution environment (AWS docs, "Defined runtime environment variables").
        lambda_function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_name = lambda_function or LOCAL_FUNCTION_NAME
        # Only Lambda's runtime sets a trace header: elsewhere (make dev) reading it is a failed lookup a request.
        self._traced = lambda_function is not None
        # Without a gateway in front, each request's own id: 16 hex digits, as long as the gateway's,
        # unique in this process by its counter and across processes by its random half.
        self._local_ids = map(f"{os.urandom(4).hex()}{{:08x}}".format, itertools.count())
        self.cold = True
        self._routes = routes
        self._templates: dict[int, str] = {}
        # The line's members that are the same for every request of a route and method, as JSON text.
        self._heads: dict[tuple[int, str], str] = {}
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

    def _head(self, route: object, method: str) -> str:
        template = self.template(route)
        route_key = f"{method} {template}" if template else UNMATCHED_ROUTE
        members: dict[str, str | int] = {"method": method, "route": route_key}
        members.update({FUNCTION_DIMENSION: self.function_name, ROUTE_DIMENSION: route_key, REQUESTS: 1})
        head = json.dumps(members)[1:-1]
        # Bounded: a client chooses the method, and an unmatched path or a method a route does not
        # serve still gets a line.
        if len(self._heads) < _HEADS_KEPT:
            self._heads[id(route), method] = head
        return head

    def write(self, scope: MutableMapping[str, Any], status: int, started: int) -> None:
        """Write the line of the request of `scope`, answered with `status`, begun at `started` (`perf_counter_ns`)."""
        # Milliseconds to the microsecond, as JSON text (one rendering for durationMs and Latency),
        # from integers: formatting a float costs several times more.
        milliseconds, microseconds = divmod((time.perf_counter_ns() - started) // 1000, 1000)
        duration_ms = f"{milliseconds}.{microseconds:03d}"
        # The function's ApplicationLogLevel, which the runtime sets on the root logger, decides.
        if not logger.isEnabledFor(logging.INFO):
            return
        route = scope.get("route")
        head = self._heads.get((id(route), scope["method"])) or self._head(route, scope["method"])
        event = scope.get("aws.event")
        gateway_id = event.get("requestContext", {}).get("requestId") if event is not None else None
        if not isinstance(gateway_id, str):
            gateway_id = next(self._local_ids)
        # Lambda's own request id, which the runtime's JSON lines carry as `requestId`; the local id without it.
        request_id = getattr(scope.get("aws.context"), "aws_request_id", None) or gateway_id
        trace = _trace_root(os.environ.get(TRACE_ENVIRONMENT_VARIABLE)) if self._traced else None
        sub = scope.get(CALLER_SUB)
        now = time.time()
        second = int(now)
        if second != self._second:
            # The runtime's timestamp (`%Y-%m-%dT%H:%M:%SZ`, UTC), formatted once a second.
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        cold_member, cold_metric, directives = _COLD if self.cold else _WARM
        trace_member = f'"traceId": {_json(trace)}, ' if trace else ""
        sub_member = f'"sub": {_json(sub)}, ' if isinstance(sub, str) else ""
        self.cold = False
        # Rendered here rather than by `logging` and the runtime's formatter: a record and its
        # formatting cost every request about 45 µs, this text about a tenth of that (docs/performance.md).
        sys.stdout.write(
            f'{{"timestamp": "{self._second_text}", "level": "INFO", "message": "request", '
            f'"logger": "{logger.name}", "requestId": {_json(request_id)}, {head}, '
            f'"status": {status}, "durationMs": {duration_ms}, "apigwRequestId": {_json(gateway_id)}, '
            f"{trace_member}{cold_member}{sub_member}"
            f'{_ERROR_COUNTS[status // 100 % 10]}"{LATENCY}": {duration_ms}, {cold_metric}'
            f'"_aws": {{"Timestamp": {int(now * 1000)}, "CloudWatchMetrics": {directives}}}}}\n'
        )


# A string as JSON text (what json.dumps does for one, without its dispatch).
_json = encode_basestring_ascii


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
