"""An init past Lambda's 10 s is retried within the first invocation, under the function's timeout, as Lambda does.

The execution environment (`sandbox/runtime_api.py`) runs a stand-in runtime: a process that
takes its time to start, then serves invocations over the Runtime API as `awslambdaric` does.
The 10 s are shortened for the test (the module's own constant), the times kept in the same
proportions: an init longer than the init timeout, shorter or longer than the function's.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import uvicorn

from sandbox import runtime_api
from sandbox.assembly import Function
from sandbox.runtime_api import LambdaFunction, Launch, Outcome, lambda_environment, runtime_api_app
from sandbox.runtime_client import host_architecture
from sandbox.server import bind, port_of

# Starts in INIT_SECONDS, then answers every invocation with a 200.
STAND_IN_RUNTIME = """
import json, os, time, urllib.request
time.sleep(float(os.environ["INIT_SECONDS"]))
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as taken:
        request_id = taken.headers["Lambda-Runtime-Aws-Request-Id"]
    answer = json.dumps({"statusCode": 200, "body": "ok"}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=answer, method="POST")).read()
"""
INIT_TIMEOUT = 0.5
INIT_SECONDS = 1.0


def invoke_once(tmp_path: Path, *, timeout_seconds: float, snap_start: bool = False) -> tuple[Outcome, list[str]]:
    function = Function(
        logical_id="Function",
        name="function",
        handler="unused.handler",
        runtime=f"python{sys.version_info.major}.{sys.version_info.minor}",
        architecture=host_architecture(),
        timeout_seconds=timeout_seconds,
        memory_mb=128,
        environment={"INIT_SECONDS": str(INIT_SECONDS)},
        asset_dir=tmp_path,
        log_format="Text",
        application_log_level=None,
        version="$LATEST",
        qualifier=None,
        snap_start=snap_start,
    )
    sock = bind("127.0.0.1", 0)
    interpreter = Path(sys.executable)
    environment = lambda_environment(
        function, runtime_api=f"127.0.0.1:{port_of(sock)}", runtime_dir=tmp_path, interpreter=interpreter
    )
    launch = Launch(command=(str(interpreter), "-c", STAND_IN_RUNTIME), environment=environment, cwd=tmp_path)
    log: list[str] = []

    async def run() -> Outcome:
        lambda_function = LambdaFunction(function, launch=launch, log=log.append)
        config = uvicorn.Config(runtime_api_app(lambda_function), lifespan="off", log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        try:
            return await lambda_function.invoke(b"{}")
        finally:
            await lambda_function.close()
            server.should_exit = True
            await serving

    return asyncio.run(run()), log


@pytest.fixture(autouse=True)
def short_init_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_api, "INIT_TIMEOUT_SECONDS", INIT_TIMEOUT)


def test_an_init_past_the_init_timeout_is_retried_and_answers_within_the_functions_timeout(tmp_path: Path) -> None:
    outcome, log = invoke_once(tmp_path, timeout_seconds=INIT_SECONDS * 4)

    assert outcome.succeeded, log
    assert [line for line in log if line.startswith("INIT_REPORT")] == [
        f"INIT_REPORT Init Duration: {INIT_TIMEOUT * 1000:.2f} ms Phase: init Status: timeout"
    ]


def test_a_retried_init_past_the_functions_timeout_times_the_invocation_out(tmp_path: Path) -> None:
    timeout = INIT_SECONDS * 0.6
    outcome, log = invoke_once(tmp_path, timeout_seconds=timeout)

    assert outcome.error_type == "Sandbox.Timedout"
    assert any(line.endswith(f"Task timed out after {timeout:.2f} seconds") for line in log)


def test_a_snapstart_init_is_not_bound_by_the_init_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_api, "SNAPSTART_INIT_TIMEOUT_SECONDS", INIT_SECONDS * 4)
    outcome, log = invoke_once(tmp_path, timeout_seconds=INIT_SECONDS * 0.6, snap_start=True)

    assert outcome.succeeded, log
    assert not [line for line in log if line.startswith("INIT_REPORT")]
