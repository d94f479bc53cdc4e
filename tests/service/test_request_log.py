"""The function's line per request, rendered by Lambda's own JSON log formatter, with its EMF metrics.

The handler is called as Lambda calls it, with real payload 2.0 events re-aimed at the app's
own declared routes, logging set up as Lambda's managed Python runtime sets it up with the
JSON log format (awslambdaric's `JsonFormatter` on the root logger, at the application log
level); the line itself is written to stdout by the service, one JSON object, which is the
log event CloudWatch Logs receives (tests/sandbox/test_request_correlation.py: the real runtime).
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import snapshot_restore_py
from awslambdaric.lambda_runtime_log_utils import JsonFormatter
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.core import request_log as emf
from service.core.access.declaration import RouteAccess
from service.runtime.lambda_adapter import LambdaHandler, build_handler
from service.runtime.local import uvicorn_log_config
from service.runtime.snapstart import register_snapshot_hooks
from tests.declared import DEMO_ADMIN_GROUPS, declared_routes
from tests.emf_spec import emf_problems, metric_values
from tests.service.test_lambda_handler import FakeContext, lambda_settings
from tests.support import load_event, runtime_logging

STAGE = "mvp"
TRACE_HEADER = "Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
# What a caller might send that must never reach a log line.
QUERY_SECRETS = ("hunter2-in-the-query", "query-token-value")
BODY_SECRET = "password-in-the-body"
ID_IN_PATH = "4815162342"
FAILING_PATH = "/v1/test-only/fails"
THINGS_PREFIX = "/test-only/things"
THING_TEMPLATE = f"/v1{THINGS_PREFIX}/{{thing_id}}"

# The caller of the real whoami event: a verified token, its claims as the authorizer rendered them.
CALLER_EVENT = load_event("whoami_named_stage.json")
CALLER_CLAIMS: dict[str, str] = CALLER_EVENT["requestContext"]["authorizer"]["jwt"]["claims"]
CALLER_TOKEN = CALLER_EVENT["headers"]["authorization"].partition(" ")[2]


class RuntimeLogCapture(logging.Handler):
    """What reaches the function's log: stdout, and records through the runtime's handler (Lambda's JsonFormatter)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.capsys = capsys
        self.records: list[str] = []
        self.stdout: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))

    @property
    def lines(self) -> list[str]:
        self.stdout += self.capsys.readouterr().out.splitlines()
        return self.stdout + self.records

    def request_lines(self) -> list[dict[str, Any]]:
        events = [json.loads(line) for line in self.lines if line.startswith("{")]
        return [event for event in events if event.get("logger") == emf.logger.name]


@pytest.fixture
def runtime_log(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[RuntimeLogCapture]:
    """Logging as the runtime sets it up: its handler on the root logger at ApplicationLogLevel INFO."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE_HEADER)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "FastApiLambda-ApiFunction1A2B3C")
    capture = RuntimeLogCapture(capsys)
    with runtime_logging(capture, logging.INFO):
        yield capture


def failing_app() -> FastAPI:
    """The app, plus routes of the test's own: one that fails (the app's 500), one with an id in its path."""
    app = create_app(lambda_settings())

    async def fails() -> None:
        raise RuntimeError("a bug with " + QUERY_SECRETS[0])

    app.add_api_route(FAILING_PATH, fails, methods=["GET"])
    things = APIRouter(prefix=THINGS_PREFIX)

    @things.get("/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    # Included as the app's own routers are, under a prefix of its own.
    app.include_router(things, prefix="/v1")
    return app


@pytest.fixture
def handler(runtime_log: RuntimeLogCapture) -> LambdaHandler:
    # Built after the environment is set, as in Lambda; a fresh one per test, so its first request is cold.
    return build_handler(lambda_settings(), app=failing_app())


def event_for(method: str, path: str, *, authorized: bool, request_id: str, body: str | None = None) -> dict[str, Any]:
    """The real whoami event, aimed at `method path`, with secrets in its query (and body)."""
    event = copy.deepcopy(CALLER_EVENT)
    event["routeKey"] = f"{method} {path}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/{STAGE}{path}"
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["requestId"] = request_id
    event["rawQueryString"] = f"password={QUERY_SECRETS[0]}&access_token={QUERY_SECRETS[1]}"
    event["queryStringParameters"] = {"password": QUERY_SECRETS[0], "access_token": QUERY_SECRETS[1]}
    if not authorized:
        del event["requestContext"]["authorizer"]
    if body is not None:
        event["body"] = body
        event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    return event


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", ID_IN_PATH, path)


def _callable_by_the_caller(route: RouteAccess) -> bool:
    # The fixture's token has no scope (Firebase), and its groups are the demo admin's.
    return not route.public and not route.scopes and set(route.groups) <= DEMO_ADMIN_GROUPS and "{" not in route.path


def routes_where(test: Any, reason: str) -> RouteAccess:
    found = [route for route in declared_routes() if test(route)]
    if not found:
        pytest.skip(f"the app declares no {reason}")
    return found[0]


def invoke(handler: LambdaHandler, event: dict[str, Any]) -> int:
    status: int = handler(event, FakeContext())["statusCode"]
    return status


def assert_the_line(line: dict[str, Any], *, method: str, template: str, status: int, request_id: str) -> None:
    route_key = f"{method} {template}" if template != emf.UNMATCHED_ROUTE else template
    assert line["level"] == "INFO"
    assert line["method"] == method
    assert line["route"] == route_key
    assert line["status"] == status
    assert isinstance(line["durationMs"], float)
    assert line["durationMs"] >= 0
    assert line["apigwRequestId"] == request_id
    assert line["traceId"] == TRACE_ROOT
    assert isinstance(line["coldStart"], bool)
    # The metrics: valid EMF, per route template, counting this request's outcome.
    assert emf_problems(line) == []
    metrics = metric_values(line)
    expected_dimensions = {emf.FUNCTION_DIMENSION: "FastApiLambda-ApiFunction1A2B3C", emf.ROUTE_DIMENSION: route_key}
    assert metrics[emf.REQUESTS] == (expected_dimensions, 1)
    assert metrics[emf.ERRORS_4XX] == (expected_dimensions, int(400 <= status < 500))
    assert metrics[emf.ERRORS_5XX] == (expected_dimensions, int(status >= 500))
    assert metrics[emf.LATENCY] == (expected_dimensions, line["durationMs"])


def assert_nothing_leaks(lines: list[str]) -> None:
    text = "\n".join(lines)
    secrets = [*QUERY_SECRETS, BODY_SECRET, CALLER_TOKEN, *CALLER_TOKEN.split(".")]
    # Every claim value but the subject's (and the user id Firebase copies from it), the times and flags.
    secrets += [
        value
        for value in CALLER_CLAIMS.values()
        if value != CALLER_CLAIMS["sub"] and not value.isdigit() and value not in ("true", "false")
    ]
    leaked = [secret for secret in secrets if secret in text]
    assert leaked == [], text


def test_a_success_writes_its_route_status_ids_and_the_callers_sub(
    handler: LambdaHandler, runtime_log: RuntimeLogCapture
) -> None:
    route = routes_where(_callable_by_the_caller, "protected GET route the fixture's caller may call")
    event = event_for(route.method, route.path, authorized=True, request_id="Success1RqId=")
    assert invoke(handler, event) == 200
    (line,) = runtime_log.request_lines()
    assert_the_line(line, method=route.method, template=route.path, status=200, request_id="Success1RqId=")
    assert line["sub"] == CALLER_CLAIMS["sub"]
    assert line["coldStart"] is True
    assert line[emf.COLD_START] == 1
    assert metric_values(line)[emf.COLD_START] == ({emf.FUNCTION_DIMENSION: "FastApiLambda-ApiFunction1A2B3C"}, 1)
    assert_nothing_leaks(runtime_log.lines)


def test_a_401_from_the_app_a_404_and_a_500_each_write_their_line(
    handler: LambdaHandler, runtime_log: RuntimeLogCapture
) -> None:
    protected = routes_where(lambda route: not route.public and "{" not in route.path, "protected route")
    # No authorizer context on a protected route: the app itself refuses (it fails closed).
    refused = event_for(protected.method, protected.path, authorized=False, request_id="Refused401Id=")
    assert invoke(handler, refused) == 401
    unknown = event_for(
        "POST", "/v1/no-such-route", authorized=True, request_id="NotFound404Id=", body=f"password={BODY_SECRET}"
    )
    assert invoke(handler, unknown) == 404
    assert invoke(handler, event_for("GET", FAILING_PATH, authorized=True, request_id="Failed500RqId=")) == 500

    refusal, not_found, failed = runtime_log.request_lines()
    assert_the_line(refusal, method=protected.method, template=protected.path, status=401, request_id="Refused401Id=")
    assert "sub" not in refusal
    assert_the_line(not_found, method="POST", template=emf.UNMATCHED_ROUTE, status=404, request_id="NotFound404Id=")
    assert_the_line(failed, method="GET", template=FAILING_PATH, status=500, request_id="Failed500RqId=")
    # Only the first request of the environment is a cold start.
    assert [line["coldStart"] for line in (refusal, not_found, failed)] == [True, False, False]
    assert emf.COLD_START not in not_found
    assert_nothing_leaks(runtime_log.lines)


def test_unmatched_requests_each_write_their_own_method_under_one_route(
    handler: LambdaHandler, runtime_log: RuntimeLogCapture
) -> None:
    # An unmatched path's requests share one metric, whatever their method, but each line says its own.
    methods = ["GET", "DELETE", "PATCH", "GET"]
    for number, method in enumerate(methods):
        event = event_for(method, "/v1/no-such-route", authorized=True, request_id=f"Unmatched{number:04d}=")
        assert invoke(handler, event) == 404

    lines = runtime_log.request_lines()
    assert [line["method"] for line in lines] == methods
    for number, (line, method) in enumerate(zip(lines, methods, strict=True)):
        assert_the_line(
            line, method=method, template=emf.UNMATCHED_ROUTE, status=404, request_id=f"Unmatched{number:04d}="
        )


def test_a_path_holding_an_id_is_counted_under_its_template(
    handler: LambdaHandler, runtime_log: RuntimeLogCapture
) -> None:
    templates = [THING_TEMPLATE] + [route.path for route in declared_routes() if "{" in route.path]
    for number, template in enumerate(templates):
        request_id = f"Template{number:04d}="
        event = event_for("GET", concrete(template), authorized=True, request_id=request_id)
        status = invoke(handler, event)
        line = runtime_log.request_lines()[-1]
        assert_the_line(line, method="GET", template=template, status=status, request_id=request_id)
        assert ID_IN_PATH not in json.dumps(line)
    assert runtime_log.request_lines()[0]["status"] == 200


def test_a_request_after_a_snapshot_restore_counts_as_a_cold_start(
    handler: LambdaHandler, runtime_log: RuntimeLogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The runtime's hook registry, kept for this test only.
    restore_hooks: list[Any] = []
    monkeypatch.setattr(snapshot_restore_py, "register_before_snapshot", lambda *call: None)
    monkeypatch.setattr(snapshot_restore_py, "register_after_restore", lambda *call: restore_hooks.append(call))
    app = failing_app()
    assert register_snapshot_hooks(app)
    handler = build_handler(lambda_settings(), app=app)
    route = routes_where(_callable_by_the_caller, "protected GET route the fixture's caller may call")
    for request_id in ("BeforeSnapId=", "WarmRequestI="):
        invoke(handler, event_for(route.method, route.path, authorized=True, request_id=request_id))
    for function, *args in restore_hooks:
        function(*args)
    invoke(handler, event_for(route.method, route.path, authorized=True, request_id="RestoredReqI="))
    assert [line["coldStart"] for line in runtime_log.request_lines()] == [True, False, True]


def test_the_line_is_left_out_below_info(capsys: pytest.CaptureFixture[str]) -> None:
    # The function's ApplicationLogLevel decides, as for any other line: at WARN, none.
    capture = RuntimeLogCapture(capsys)
    with runtime_logging(capture, logging.WARNING):
        handler = build_handler(lambda_settings(), app=failing_app())
        invoke(handler, event_for("GET", "/v1/no-such-route", authorized=False, request_id="QuietRequest="))
    assert capture.request_lines() == []


def test_the_line_opens_as_the_runtimes_json_lines_do(handler: LambdaHandler, runtime_log: RuntimeLogCapture) -> None:
    """Written by the service itself (the runtime's formatter costs tens of µs a request), in the runtime's shape."""
    invoke(handler, event_for("GET", "/v1/no-such-route", authorized=False, request_id="ShapeRequest="))
    logging.getLogger("service.shape").info("reference")
    (line,) = runtime_log.request_lines()
    reference = json.loads(runtime_log.records[-1])
    assert list(line)[:4] == list(reference)[:4] == ["timestamp", "level", "message", "logger"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["timestamp"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reference["timestamp"])
    # Lambda's request id, where the runtime's lines carry it.
    assert line["requestId"] == FakeContext.aws_request_id


def test_make_dev_writes_the_same_line_with_a_local_request_id(
    make_local_app: Callable[..., FastAPI], handler: LambdaHandler, runtime_log: RuntimeLogCapture
) -> None:
    # What `make dev` configures for the service's loggers (uvicorn's log_config): INFO, as in Lambda.
    config = uvicorn_log_config()
    assert config["loggers"]["service"]["level"] == "INFO"
    formatter = config["formatters"][config["handlers"][config["loggers"]["service"]["handlers"][0]]["formatter"]]
    assert formatter["()"] == "service.runtime.local.LambdaJsonFormatter"
    route = routes_where(_callable_by_the_caller, "protected GET route the fixture's caller may call")
    with TestClient(make_local_app()) as client:
        admin = {"username": "admin@example.com", "password": "admin-password"}
        signed_in = client.post("/v1/auth/token", data=admin)
        answer = client.get(route.path, headers={"authorization": f"Bearer {signed_in.json()['access_token']}"})
    assert answer.status_code == 200
    dev = runtime_log.request_lines()[-1]
    for request_id in ("LambdaColdId=", "LambdaWarmId="):
        invoke(handler, event_for(route.method, route.path, authorized=True, request_id=request_id))
    in_lambda = runtime_log.request_lines()[-1]
    assert dev["route"] == in_lambda["route"]
    assert dev["sub"] == "admin@example.com"
    # The same line, with the local request id where Lambda's would be.
    assert set(dev) == set(in_lambda)
    assert re.fullmatch(r"[0-9a-f]{16}", dev["apigwRequestId"])
    assert dev["requestId"] == dev["apigwRequestId"]
    assert emf_problems(dev) == []
    assert "admin-password" not in "\n".join(runtime_log.lines)
