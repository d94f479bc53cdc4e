"""The local server under load: requests per second against a hello-world app, in the same run.

Four servers, each uvicorn with one worker on 127.0.0.1 and the same settings as `make dev`
(log level info, so an access-log line per request, written to a file; no server header):
- the service, `python -m service.runtime.local` (RUNTIME=LOCAL, embedded issuer): health,
  and whoami with a bearer token that the local authorizer verifies (RS256) on every request;
- the floor's FastAPI app (`bench/cases/floor_handler.py`), its health route: the target's
  reference;
- the least a FastAPI whoami can do (`bench/cases/minimal_whoami_handler.py`: a `Security`
  dependency returning the token's claims, unverified), with the same token: a reference for
  what FastAPI itself costs whoami's row;
- a bare ASGI app (`bench/cases/bare_handler.py`): uvicorn's own floor.
The load generator is wrk (Debian's `wrk`) or, where it is missing, a small asyncio client
with keep-alive connections; either runs for a fixed time and stops by itself. Every case
runs once per round, rounds interleaved; the report is requests per second per run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.assets import ROOT

UVICORN_SETTINGS = ["--host", "127.0.0.1", "--log-level", "info", "--no-server-header"]
HEALTH_PATH = "/v1/manage/hc"
WHOAMI_PATH = "/v1/users/whoami"
CONNECTIONS = 16
MAX_WRK_SECONDS = 60.0


@dataclass(frozen=True)
class LoadCase:
    key: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    requests: int
    failures: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(**settings: str) -> dict[str, str]:
    """This environment without the service's settings (nothing leaks in from a shell), plus `settings`."""
    from service.core.settings import Settings  # noqa: PLC0415 - only the server runs need it

    names = {name.upper() for name in Settings.model_fields}
    env = {name: value for name, value in os.environ.items() if name.upper() not in names}
    env.update(settings)
    return env


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far (all its threads), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running(command: Sequence[str], *, port: int, env: Mapping[str, str], log: Path) -> Iterator[Server]:
    """Start a server, wait until its health path answers, stop it on exit."""
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            command, cwd=ROOT, env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base_url + HEALTH_PATH, timeout=1) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(command)} did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield Server(base_url, process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def access_token(base_url: str) -> str:
    form = urllib.parse.urlencode({"username": "admin@example.com", "password": "admin-password"}).encode()
    with urllib.request.urlopen(base_url + "/v1/auth/token", data=form, timeout=30) as answer:  # noqa: S310
        token: str = json.loads(answer.read())["access_token"]
    return token


def run_wrk(case: LoadCase, *, seconds: float, connections: int) -> LoadResult:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]
    for name, value in case.headers:
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(  # noqa: S603 - fixed argv
        [*command, case.url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failures = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)
    return LoadResult(requests_per_second=float(rate.group(1)), requests=int(total.group(1)), failures=failures)


async def _python_load(case: LoadCase, *, seconds: float, connections: int) -> LoadResult:
    """A bounded keep-alive load generator: `connections` clients, each one request at a time."""
    url = urllib.parse.urlsplit(case.url)
    extra = "".join(f"{name}: {value}\r\n" for name, value in case.headers)
    request = f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n{extra}\r\n".encode()
    deadline = time.monotonic() + seconds
    counts = {"ok": 0, "failed": 0}

    async def client() -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            # At least one request, however late this client connected: on a busy machine the
            # deadline can pass while the connections open, and a run of no requests has no rate.
            while True:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                counts["ok" if head.startswith(b"HTTP/1.1 200") else "failed"] += 1
                if time.monotonic() >= deadline:
                    break
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.monotonic() - started
    return LoadResult(
        requests_per_second=(counts["ok"] + counts["failed"]) / elapsed,
        requests=counts["ok"] + counts["failed"],
        failures=counts["failed"],
    )


def load_generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def run_load(case: LoadCase, *, seconds: float, connections: int = CONNECTIONS) -> LoadResult:
    """Load `case` for `seconds`; the result has at least one request.

    The asyncio client sends at least one request per connection. wrk counts only the requests
    answered within its run: a server too starved to answer any gets a run twice as long, up to
    a minute, and then an error that says so.
    """
    if load_generator() == "python":
        return asyncio.run(_python_load(case, seconds=seconds, connections=connections))
    while True:
        result = run_wrk(case, seconds=seconds, connections=connections)
        if result.requests > 0:
            return result
        if seconds >= MAX_WRK_SECONDS:
            raise RuntimeError(f"{case.key}: no request answered in {seconds:.0f} s")
        seconds = min(seconds * 2, MAX_WRK_SECONDS)


def measure_servers(
    work_dir: Path, cases_dir: Path, *, rounds: int, seconds: float, warmup_seconds: float
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per case, one value per run: requests per second, and the server's CPU µs per request.

    Requests per second depend on how much of a CPU the server gets on a shared machine; the
    CPU time it spends per request does not, so both are reported. Raises if a request failed.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    env = clean_environment(LOCAL_IDP_KEY_FILE=str(work_dir / "local-idp-key.pem"))
    uvicorn = [python, "-m", "uvicorn", "--app-dir", str(cases_dir), *UVICORN_SETTINGS]
    commands = {
        "service": [python, "-m", "service.runtime.local", "--host", "127.0.0.1", "--port"],
        "floor": [*uvicorn, "floor_handler:app", "--port"],
        "minimal": [*uvicorn, "minimal_whoami_handler:app", "--port"],
        "bare": [*uvicorn, "bare_handler:app", "--port"],
    }
    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                running([*command, str(port)], port=port, env=env, log=work_dir / f"server-{name}.log")
            )
            for name, command in commands.items()
            for port in (free_port(),)
        }
        authorization = (("Authorization", f"Bearer {access_token(servers['service'].url)}"),)
        cases = [
            (servers["floor"], LoadCase("floor/health", servers["floor"].url + HEALTH_PATH)),
            # The same request bytes as whoami's (a ~1 kB header for uvicorn to parse), which the floor ignores.
            (
                servers["floor"],
                LoadCase("floor/health_with_token", servers["floor"].url + HEALTH_PATH, authorization),
            ),
            (servers["service"], LoadCase("service/health", servers["service"].url + HEALTH_PATH)),
            (servers["service"], LoadCase("service/whoami", servers["service"].url + WHOAMI_PATH, authorization)),
            (servers["minimal"], LoadCase("minimal/whoami", servers["minimal"].url + WHOAMI_PATH, authorization)),
            (servers["bare"], LoadCase("bare/health", servers["bare"].url + HEALTH_PATH)),
        ]
        for _, case in cases:
            run_load(case, seconds=warmup_seconds)
        for round_index in range(rounds):
            shift = round_index % len(cases)
            for server, case in [*cases[shift:], *cases[:shift]]:
                cpu_before = server.cpu_seconds()
                result = run_load(case, seconds=seconds)
                cpu_used = server.cpu_seconds() - cpu_before
                if result.failures:
                    raise RuntimeError(f"{case.key}: {result.failures} of {result.requests} requests failed")
                rates.setdefault(case.key, []).append(result.requests_per_second)
                cpu.setdefault(case.key, []).append(cpu_used / result.requests * 1e6)
            print(f"  load: round {round_index + 1}/{rounds}", file=sys.stderr)
    return rates, cpu
