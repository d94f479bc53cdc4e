"""One Lambda execution environment on this machine: the Runtime API, and the function's process behind it.

Lambda starts a function's runtime in a process of its own, with the function's environment
and the variables Lambda sets, and talks to it over the Runtime API (version 2018-06-01):
the runtime asks for the next invocation (`GET /runtime/invocation/next`, which blocks until
there is one), answers it (`POST /runtime/invocation/{id}/response` or `/error`) and asks
again; a failed start is reported at `POST /runtime/init/error`. Played here as Lambda plays it:

- the process starts on the first invocation (a cold start) and serves the next ones warm;
- one invocation at a time, as one execution environment serves them;
- the init phase may take 10 s; past it the process is killed and the init retried within
  the first invocation, under the function's timeout, init and invocation together
  (docs/aws-facts.md, row "Init timeout"); with SnapStart the init may take 130 s or the
  function's timeout, whichever is longer;
- an invocation may take the function's timeout; past it (or after an init error or a crash)
  the process is killed, and the next invocation starts a fresh one;
- a response over 6 MB is refused (413) and fails the invocation.

Each invocation ends in an `Outcome`: the function's answer, or Lambda's error. The platform
lines Lambda logs (`REPORT ...`, `Task timed out after ...`) go to the log beside the
function's own output.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.assembly import Function

# docs/aws-facts.md, row "Runtime API"
RUNTIME_API_VERSION = "2018-06-01"
# Lambda gives the init phase (importing the handler's module) 10 s, then retries it during the
# first invocation under the function's timeout; SnapStart's and provisioned concurrency's init
# may take 130 s or the function's timeout, whichever is longer (Lambda's "Understanding the
# Lambda execution environment lifecycle", Init phase; docs/aws-facts.md, row "Init timeout").
INIT_TIMEOUT_SECONDS = 10.0
# docs/aws-facts.md, row "Init timeout"
SNAPSTART_INIT_TIMEOUT_SECONDS = 130.0
# Lambda's limit on a synchronous invocation's response.
# docs/aws-facts.md, row "Payload limit"
RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024
SANDBOX_REGION = "eu-west-1"
SANDBOX_ACCOUNT = "123456789012"

Log = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    """How one invocation ended: the function's JSON answer, or the error Lambda reports instead."""

    request_id: str
    payload: bytes | None = None
    error_type: str | None = None
    error_message: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.payload is not None


@dataclass(frozen=True)
class Launch:
    """How the function's process is started."""

    command: tuple[str, ...]
    environment: dict[str, str]
    cwd: Path


def lambda_environment(
    function: Function, *, runtime_api: str, runtime_dir: Path, interpreter: Path, region: str = SANDBOX_REGION
) -> dict[str, str]:
    """The function's variables from the template, then those Lambda sets (which a template cannot override)."""
    log_stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{function.version}]{uuid.uuid4().hex}"
    environment = dict(function.environment)
    environment.update(
        {
            "_HANDLER": function.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_LOG_FORMAT": function.log_format.upper(),
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": str(function.asset_dir),
            "LAMBDA_RUNTIME_DIR": str(runtime_dir),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PATH": os.pathsep.join([str(interpreter.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            # After the task root (the working directory, first on `python -m`'s path), as in Lambda.
            "PYTHONPATH": str(runtime_dir),
        }
    )
    if function.application_log_level:
        environment["AWS_LAMBDA_LOG_LEVEL"] = function.application_log_level
    return environment


def launch(function: Function, *, runtime_api: str, runtime_dir: Path, interpreter: Path) -> Launch:
    """`python -m awslambdaric <handler>` in the asset, as Lambda's Python runtime starts it.

    `-S -s`: no site-packages, so the process imports the asset, the runtime client and the
    standard library only. `-B`: the asset is read-only in Lambda, and stays untouched here.
    """
    return Launch(
        command=(str(interpreter), "-S", "-s", "-B", "-m", "awslambdaric", function.handler),
        environment=lambda_environment(
            function, runtime_api=runtime_api, runtime_dir=runtime_dir, interpreter=interpreter
        ),
        cwd=function.asset_dir,
    )


class _Invocation:
    def __init__(self, payload: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.request_id = str(uuid.uuid4())
        self.payload = payload
        self.taken: asyncio.Future[float] = loop.create_future()  # when the runtime received it
        # When the function's timeout ends, where it runs from before the runtime takes the event
        # (an init retried within the invocation); else from when the runtime took it.
        self.deadline: float | None = None
        self.outcome: asyncio.Future[Outcome] = loop.create_future()

    def end(
        self, *, payload: bytes | None = None, error_type: str | None = None, error_message: str | None = None
    ) -> None:
        """Settle the invocation, once: the first answer, error or timeout wins."""
        if not self.outcome.done():
            outcome = Outcome(self.request_id, payload=payload, error_type=error_type, error_message=error_message)
            self.outcome.set_result(outcome)


class _Environment:
    """One process of the function, and what the Runtime API has handed it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.started = time.monotonic()
        self.initialized: float | None = None  # when the runtime first asked for an invocation
        self.invocations: asyncio.Queue[_Invocation | None] = asyncio.Queue()
        self.current: _Invocation | None = None
        self.retired = False

    def init_duration_ms(self) -> float | None:
        return None if self.initialized is None else (self.initialized - self.started) * 1000

    def max_memory_used_mb(self) -> int | None:
        """The process's peak resident memory, as Lambda's REPORT line gives it (Linux's VmHWM)."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return math.ceil(int(line.split()[1]) / 1024)
        return None


class LambdaFunction:
    """A function's execution environment: started on demand, one invocation at a time."""

    def __init__(self, function: Function, *, launch: Launch, log: Log) -> None:
        self.function = function
        self._launch = launch
        self._log = log
        self._lock = asyncio.Lock()
        self._environment: _Environment | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def invoke(self, event: bytes) -> Outcome:
        """The function's answer to `event` (JSON), or the error Lambda would report."""
        async with self._lock:
            environment = self._environment
            cold = environment is None or environment.retired
            if environment is None or environment.retired:
                try:
                    environment = self._environment = await self._start()
                except OSError as error:
                    self._log(f"INIT_REPORT Phase: init Status: error Error Type: Runtime.InvalidEntrypoint ({error})")
                    return Outcome(str(uuid.uuid4()), error_type="Runtime.InvalidEntrypoint", error_message=str(error))
            invocation = _Invocation(event)
            environment.current = invocation
            environment.invocations.put_nowait(invocation)
            try:
                environment, outcome = await self._run(environment, invocation)
            finally:
                environment.current = None
            self._report(environment, invocation, outcome, cold=cold)
            return outcome

    def _init_timeout_seconds(self) -> float:
        if self.function.snap_start:
            return max(SNAPSTART_INIT_TIMEOUT_SECONDS, self.function.timeout_seconds)
        return INIT_TIMEOUT_SECONDS

    async def _run(self, environment: _Environment, invocation: _Invocation) -> tuple[_Environment, Outcome]:
        # Until the runtime takes the event: on a cold start, that is the init phase.
        started: set[asyncio.Future[Any]] = {invocation.taken, invocation.outcome}
        init_timeout = self._init_timeout_seconds()
        await asyncio.wait(started, timeout=init_timeout, return_when=asyncio.FIRST_COMPLETED)
        if not invocation.taken.done() and not invocation.outcome.done():
            self._log(f"INIT_REPORT Init Duration: {init_timeout * 1000:.2f} ms Phase: init Status: timeout")
            # Detached first: the killed process's exit must not end the invocation being retried.
            environment.current = None
            await self._retire(environment)
            environment = await self._retry_init(invocation)
        if invocation.taken.done():
            deadline = invocation.deadline or invocation.taken.result() + self.function.timeout_seconds
            remaining = deadline - time.time()
            await asyncio.wait({invocation.outcome}, timeout=max(0.0, remaining))
            if not invocation.outcome.done():
                message = f"Task timed out after {self.function.timeout_seconds:.2f} seconds"
                self._log(f"{_timestamp()} {invocation.request_id} {message}")
                # Lambda stops the environment; the next invocation starts a fresh one.
                await self._retire(environment)
                invocation.end(error_type="Sandbox.Timedout", error_message=message)
        return environment, await invocation.outcome

    async def _retry_init(self, invocation: _Invocation) -> _Environment:
        """A fresh process for `invocation`, its init and the invocation within the function's timeout."""
        invocation.deadline = time.time() + self.function.timeout_seconds
        try:
            environment = self._environment = await self._start()
        except OSError as error:
            invocation.end(error_type="Runtime.InvalidEntrypoint", error_message=str(error))
            assert self._environment is not None
            return self._environment
        environment.current = invocation
        environment.invocations.put_nowait(invocation)
        started: set[asyncio.Future[Any]] = {invocation.taken, invocation.outcome}
        await asyncio.wait(started, timeout=self.function.timeout_seconds, return_when=asyncio.FIRST_COMPLETED)
        if not invocation.taken.done() and not invocation.outcome.done():
            message = f"Task timed out after {self.function.timeout_seconds:.2f} seconds"
            self._log(f"{_timestamp()} {invocation.request_id} {message}")
            invocation.end(error_type="Sandbox.Timedout", error_message=message)
            await self._retire(environment)
        return environment

    def _report(self, environment: _Environment, invocation: _Invocation, outcome: Outcome, *, cold: bool) -> None:
        if not invocation.taken.done():
            return
        duration_ms = (time.time() - invocation.taken.result()) * 1000
        fields = [
            f"REPORT RequestId: {invocation.request_id}",
            f"Duration: {duration_ms:.2f} ms",
            f"Billed Duration: {math.ceil(duration_ms)} ms",
            f"Memory Size: {self.function.memory_mb} MB",
        ]
        memory = environment.max_memory_used_mb()
        if memory is not None:
            fields.append(f"Max Memory Used: {memory} MB")
        init_ms = environment.init_duration_ms()
        if cold and init_ms is not None:
            fields.append(f"Init Duration: {init_ms:.2f} ms")
        if not outcome.succeeded:
            fields.append(f"Status: {'timeout' if outcome.error_type == 'Sandbox.Timedout' else 'error'}")
        self._log("\t".join(fields))

    async def _start(self) -> _Environment:
        process = await asyncio.create_subprocess_exec(
            *self._launch.command,
            env=self._launch.environment,
            cwd=self._launch.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Its own process group: a Ctrl-C in the terminal reaches the sandbox, which stops it.
            start_new_session=True,
        )
        environment = _Environment(process)
        self._keep(self._forward_output(environment))
        self._keep(self._watch_exit(environment))
        return environment

    def _keep(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward_output(self, environment: _Environment) -> None:
        """The process's output, line by line, however long a line (a full pipe would stall the function)."""
        assert environment.process.stdout is not None
        pending = b""
        while chunk := await environment.process.stdout.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._log_output(line)
        if pending:
            self._log_output(pending)

    def _log_output(self, line: bytes) -> None:
        # The runtime joins a multi-line record with carriage returns, one record per line.
        self._log(line.decode("utf-8", "replace").replace("\r", "\n    "))

    async def _watch_exit(self, environment: _Environment) -> None:
        code = await environment.process.wait()
        self._mark_retired(environment)
        invocation = environment.current
        if invocation is not None and not invocation.outcome.done():
            message = f"Runtime exited with error: exit status {code}"
            self._log(f"{_timestamp()} {invocation.request_id} Error: {message}")
            invocation.end(error_type="Runtime.ExitError", error_message=message)

    @staticmethod
    def _mark_retired(environment: _Environment) -> None:
        """No further invocation goes to this environment; the next one starts a fresh process."""
        if not environment.retired:
            environment.retired = True
            # A request for the next invocation still waiting gets its answer: there is none.
            environment.invocations.put_nowait(None)

    async def _retire(self, environment: _Environment) -> None:
        self._mark_retired(environment)
        if environment.process.returncode is None:
            environment.process.kill()
            await environment.process.wait()

    async def close(self) -> None:
        if self._environment is not None:
            await self._retire(self._environment)
        for task in list(self._tasks):
            task.cancel()

    # The Runtime API's side: what the function's process asks and says.

    async def next_invocation(self) -> _Invocation | None:
        environment = self._environment
        if environment is None or environment.retired:
            return None
        if environment.initialized is None:
            environment.initialized = time.monotonic()
        invocation = await environment.invocations.get()
        if invocation is not None and not invocation.outcome.done():
            invocation.taken.set_result(time.time())
            return invocation
        return None

    def invocation(self, request_id: str) -> _Invocation | None:
        environment = self._environment
        current = environment.current if environment is not None else None
        if current is None or current.request_id != request_id or current.outcome.done():
            return None
        return current

    def init_failed(self, error_type: str, error_message: str) -> None:
        environment = self._environment
        if environment is not None and environment.current is not None:
            self._log(f"INIT_REPORT Phase: init Status: error Error Type: {error_type}")
            # The runtime exits after reporting; the next invocation starts the function anew.
            self._mark_retired(environment)
            environment.current.end(error_type=error_type, error_message=error_message)


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


def _error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"errorMessage": message, "errorType": error_type}, status_code=status)


def _reported_error(body: bytes, header_type: str | None) -> tuple[str, str]:
    """(type, message) of an error a runtime posted: `{"errorType": ..., "errorMessage": ...}`."""
    try:
        error = json.loads(body)
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    error_type = error.get("errorType") or header_type or "Unhandled"
    return str(error_type), str(error.get("errorMessage") or "")


def runtime_api_app(function: LambdaFunction) -> Starlette:
    """The Runtime API a function's process talks to (`AWS_LAMBDA_RUNTIME_API`)."""
    prefix = f"/{RUNTIME_API_VERSION}/runtime"

    async def next_invocation(request: Request) -> Response:
        invocation = await function.next_invocation()
        if invocation is None:
            return _error(500, "Runtime.Stopped", "The execution environment is shutting down.")
        deadline = invocation.deadline or invocation.taken.result() + function.function.timeout_seconds
        deadline_ms = int(deadline * 1000)
        qualifier = f":{function.function.qualifier}" if function.function.qualifier else ""
        arn = f"arn:aws:lambda:{SANDBOX_REGION}:{SANDBOX_ACCOUNT}:function:{function.function.name}{qualifier}"
        trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        return Response(
            invocation.payload,
            media_type="application/json",
            headers={
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": arn,
                "Lambda-Runtime-Trace-Id": trace,
            },
        )

    async def invocation_response(request: Request) -> Response:
        invocation = function.invocation(request.path_params["request_id"])
        if invocation is None:
            return _error(400, "InvalidRequestID", "No invocation with this request ID is waiting for an answer.")
        body = await request.body()
        if len(body) > RESPONSE_LIMIT_BYTES:
            message = f"Response payload size ({len(body)} bytes) exceeded the maximum ({RESPONSE_LIMIT_BYTES} bytes)."
            invocation.end(error_type="Function.ResponseSizeTooLarge", error_message=message)
            return _error(413, "RequestEntityTooLarge", message)
        invocation.end(payload=body)
        return JSONResponse({"status": "OK"}, status_code=202)

    async def invocation_error(request: Request) -> Response:
        invocation = function.invocation(request.path_params["request_id"])
        if invocation is None:
            return _error(400, "InvalidRequestID", "No invocation with this request ID is waiting for an answer.")
        error_type, message = _reported_error(
            await request.body(), request.headers.get("lambda-runtime-function-error-type")
        )
        invocation.end(error_type=error_type, error_message=message)
        return JSONResponse({"status": "OK"}, status_code=202)

    async def init_error(request: Request) -> Response:
        error_type, message = _reported_error(
            await request.body(), request.headers.get("lambda-runtime-function-error-type")
        )
        function.init_failed(error_type, message)
        return JSONResponse({"status": "OK"}, status_code=202)

    return Starlette(
        routes=[
            Route(f"{prefix}/invocation/next", next_invocation, methods=["GET"]),
            Route(f"{prefix}/invocation/{{request_id}}/response", invocation_response, methods=["POST"]),
            Route(f"{prefix}/invocation/{{request_id}}/error", invocation_error, methods=["POST"]),
            Route(f"{prefix}/init/error", init_error, methods=["POST"]),
        ]
    )
