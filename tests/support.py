"""Helpers shared by every test package."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = Path(__file__).parent / "events"


def committed_context() -> dict[str, Any]:
    """cdk.json's context: what `cdk synth` reads when no `-c` is given."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


# The stack names as cdk.json sets them, so renaming the stack (docs/recipes.md) keeps the suite green.
STACK_NAME: str = committed_context()["stack_name"]
PIPELINE_STACK_NAME = f"{STACK_NAME}Pipeline"


def load_event(name: str) -> dict[str, Any]:
    """A Lambda event kept as a JSON fixture under tests/events/."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return event


def free_port() -> int:
    """A free TCP port on loopback, for a server a test starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(**settings: str) -> dict[str, str]:
    """This process's environment without any service setting, plus `settings` (NAME=value)."""
    names = {name.upper() for name in Settings.model_fields}
    env = {name: value for name, value in os.environ.items() if name.upper() not in names}
    env.update(settings)
    return env


@contextmanager
def running_server(
    command: Sequence[str],
    *,
    port: int,
    ready_path: str,
    env: Mapping[str, str],
    log_path: Path,
    timeout_seconds: float = 30.0,
    cwd: Path = ROOT,
    ready_status: int = 200,
) -> Iterator[str]:
    """Start `command` (a server on 127.0.0.1:`port`), wait until `ready_path` answers `ready_status`, yield its URL.

    Its output goes to `log_path` (a pipe nobody reads would fill up and stall the server), and
    is shown if it does not start. Stopped on exit, killed if it does not stop.
    """
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                if httpx.get(base_url + ready_path, timeout=1).status_code == ready_status:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{' '.join(command)} did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_dev_server(workdir: Path, *, reload: bool = False, cwd: Path = ROOT, **settings: str) -> Iterator[str]:
    """The server `make dev` runs (RUNTIME=LOCAL, embedded issuer), with its own key, on a free port.

    `cwd` is where the `service` package is imported from (the repository, or a copy of it).
    """
    port = free_port()
    env = server_env(LOCAL_IDP_KEY_FILE=str(workdir / "local-idp-key.pem"), **settings)
    command = [sys.executable, "-m", "service.runtime.local", "--host", "127.0.0.1", "--port", str(port)]
    command.append("--reload" if reload else "--no-reload")
    with running_server(
        command, port=port, ready_path="/v1/manage/hc", env=env, log_path=workdir / "dev-server.log", cwd=cwd
    ) as base_url:
        yield base_url


# RFC 6749 section 5.2: `error_description` is printable ASCII without `"` and `\`.
_ERROR_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")


def make_lock_service(lock: Path, *, env: Mapping[str, str] | None = None) -> None:
    """`make lock-service` (the dependency recipe's step) on the pair `lock`.in and `lock`.txt."""
    subprocess.run(
        ["make", "--no-print-directory", "lock-service", f"SERVICE_LOCK={lock}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
        env=None if env is None else {**os.environ, **env},
    )


@contextmanager
def runtime_logging(handler: logging.Handler, level: int) -> Iterator[None]:
    """Logging as Lambda's runtime sets it up: its `handler` on the root logger, at the ApplicationLogLevel `level`."""
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def assert_oauth_error(response: httpx.Response, *, status: int = 400, error: str, code: str) -> dict[str, Any]:
    """The token endpoint's answer is an RFC 6749 section 5.2 error: `error`, never cached."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description", "code"}, body
    assert (body["error"], body["code"]) == (error, code)
    assert _ERROR_DESCRIPTION.fullmatch(body["error_description"]), body["error_description"]
    return body
