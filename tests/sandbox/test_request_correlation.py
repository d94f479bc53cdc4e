"""One request, three lines joined by its id: `apigw-requestid`, the gateway's access log, the function's line.

Through the sandbox, as a client calls the deployed API: the gateway plays the template's
stage (its access-log format), the bundled function runs under awslambdaric with the
template's JSON log format, so the function's line is the one Lambda's runtime writes.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.core import request_log as emf
from tests.declared import DEMO_ADMIN_GROUPS, declared_routes
from tests.emf_spec import emf_problems
from tests.support_sandbox import RunningSandbox, running_sandbox

pytestmark = pytest.mark.e2e

ADMIN = ("admin@example.com", "admin-password")
QUERY_SECRETS = ("hunter2-in-the-query", "query-token-value")


@pytest.fixture(scope="module")
def sandbox(
    sandbox_assembly: Path, offline_services: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    workdir = tmp_path_factory.mktemp("request-correlation")
    with running_sandbox(sandbox_assembly, workdir, offline_url=offline_services) as running:
        yield running


def json_lines(lines: list[str], prefix: str) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        if line.startswith(prefix):
            try:
                found.append(json.loads(line.removeprefix(prefix)))
            except ValueError:
                continue  # the platform's text lines (START, REPORT ...)
    return found


def lines_of(sandbox: RunningSandbox, request_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The access-log line and the function's line of one request, once both are written."""
    deadline = time.monotonic() + 10
    while True:
        log = sandbox.log()
        access = [line for line in json_lines(log, "[gateway] ") if line.get("requestId") == request_id]
        function = [line for line in json_lines(log, "[function] ") if line.get("apigwRequestId") == request_id]
        if (access and function) or time.monotonic() > deadline:
            assert len(access) == 1, log
            assert len(function) == 1, log
            return access[0], function[0]
        time.sleep(0.05)


def callable_route() -> tuple[str, str]:
    routes = [
        route
        for route in declared_routes()
        if not route.public
        and route.method == "GET"
        and "{" not in route.path
        and set(route.groups) <= DEMO_ADMIN_GROUPS
    ]
    if not routes:
        pytest.skip("the app declares no protected GET route without path parameters that the demo admin may call")
    return routes[0].method, routes[0].path


def token_subject(token: str) -> str:
    payload = token.split(".")[1]
    subject: str = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
    return subject


def test_the_response_header_the_access_log_and_the_functions_line_share_the_request_id(
    sandbox: RunningSandbox,
) -> None:
    method, path = callable_route()
    with httpx.Client(base_url=sandbox.base_url, timeout=30) as client:
        signed_in = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]})
        assert signed_in.status_code == 200, signed_in.text
        tokens = signed_in.json()
        response = client.request(
            method,
            path,
            params={"password": QUERY_SECRETS[0], "access_token": QUERY_SECRETS[1]},
            headers={"authorization": f"Bearer {tokens['access_token']}"},
        )
    assert response.status_code == 200, response.text
    request_id = response.headers["apigw-requestid"]
    access, line = lines_of(sandbox, request_id)

    assert access["routeKey"] == line["route"] == f"{method} {path}"
    assert access["status"] == str(line["status"]) == "200"
    assert line["method"] == method
    assert line["logger"] == emf.logger.name
    assert line["sub"] == token_subject(tokens["access_token"])
    assert line["traceId"].startswith("1-")
    # Lambda's own request id, as the runtime writes it on every line: the invocation's REPORT names it.
    assert any(report.startswith(f"REPORT RequestId: {line['requestId']}") for report in sandbox.reports())
    assert emf_problems(line) == []
    assert line[emf.ROUTE_DIMENSION] == line["route"]

    # Nothing the caller sent as a secret is in any line of the gateway's or the function's.
    everything = "\n".join(sandbox.log())
    for secret in (*QUERY_SECRETS, ADMIN[1], tokens["access_token"], tokens["refresh_token"]):
        assert secret not in everything
