"""SnapStart-safe init: what the handler's import leaves behind is fit to be snapshotted and restored many times.

With SnapStart (on for every runtime that has it) Lambda imports the handler once per published
version, snapshots the environment and restores that one snapshot into every new execution
environment. So importing the handler must open no network connection, start no thread (a
snapshot holds no running thread's progress), and draw nothing from `random`, whose draws every
restored copy would repeat; and what must be fresh in each copy is renewed through the runtime's
`snapshot_restore_py` hooks, called here as Lambda's runtime calls them: the before-snapshot
callables popped from the end of their list, the after-restore ones in order.

Each case runs in a fresh interpreter (an import is a process's once), the way Lambda starts
one, with the function's settings in its environment.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI

from service.core.http import SharedHttpClient
from service.runtime.snapstart import register_snapshot_hooks
from tests.support import EVENTS_DIR, ROOT

# The function's environment in Lambda, one per identity provider (see infra/service_settings.py).
LAMBDA_ENV = {
    "RUNTIME": "LAMBDA",
    "AWS_REGION": "eu-west-1",
    "AWS_API_GW_STAGE_NAME": "mvp",
    "JWT_ISSUER": "https://issuer.example.com/",
    "JWT_AUDIENCE": "orders-api",
}
PROVIDERS = {
    "firebase": {"IDENTITY_PROVIDER": "firebase", "FIREBASE_APP_API_KEY": "not-a-key"},
    "cognito": {"IDENTITY_PROVIDER": "cognito", "COGNITO_USER_POOL_CLIENT_ID": "client-one"},
    "oidc": {"IDENTITY_PROVIDER": "oidc", "OIDC_CLIENT_ID": "client-one"},
}

# Watches the import from before it starts: every socket and name lookup (audit hooks), every
# thread start (the _thread functions threading starts them with), every seeding of a
# random.Random and the shared generator's state.
IMPORT_WATCH = """
import json, os, socket, sys, _thread
events = []

def audit(name, args):
    if name == "socket.__new__" and args[1] in (socket.AF_INET, socket.AF_INET6):
        events.append(f"{name} family={args[1]}")
    elif name in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                  "socket.gethostbyname", "socket.gethostbyaddr"):
        events.append(f"{name} {args[1:]!r}")

sys.addaudithook(audit)
threads = []
for starter in ("start_new_thread", "start_joinable_thread"):
    if hasattr(_thread, starter):
        original = getattr(_thread, starter)
        def counting(*args, _original=original, _name=starter, **kwargs):
            threads.append(_name)
            return _original(*args, **kwargs)
        setattr(_thread, starter, counting)

import random
state = random.getstate()
seeded = []
original_seed = random.Random.seed
def seed(self, *args, **kwargs):
    if not isinstance(self, random.SystemRandom):  # the OS's entropy on every draw: never repeated
        seeded.append(type(self).__qualname__)
    return original_seed(self, *args, **kwargs)
random.Random.seed = seed

sys.path.insert(0, sys.argv[1])
from service.runtime.aws_lambda import handler
import threading
print(json.dumps({
    "network": events,
    "threads_started": threads,
    "threads_alive": threading.active_count(),
    "random_drawn": random.getstate() != state,
    "random_seeded": seeded,
    "modules": sorted(sys.modules),
}))
"""


def run_python(script: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    """`script` in a fresh interpreter (no PYTHON* variables, no user site), its last line as JSON."""
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, str(ROOT), *args],
        env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", **env},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_importing_the_handler_opens_no_connection_starts_no_thread_and_draws_no_random(provider: str) -> None:
    watched = run_python(IMPORT_WATCH, {**LAMBDA_ENV, **PROVIDERS[provider]})

    assert watched["network"] == []
    assert watched["threads_started"] == []
    assert watched["threads_alive"] == 1
    assert watched["random_drawn"] is False
    assert watched["random_seeded"] == []
    # The hooks were registered, with the module the runtime provides.
    assert "snapshot_restore_py" in watched["modules"]


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oidc-client-AbCdEf"
SESSION_TOKEN = "the-environments-session-token"


@dataclass
class IdentityServer:
    """On one loopback port: an OAuth token endpoint, and the Parameters and Secrets extension's secret reads.

    Connections are kept alive (HTTP/1.1), and every one is recorded: when it opened and closed,
    and what was asked on it ("secret" or "token"), so a test sees which requests shared one.
    """

    port: int
    events: list[str] = field(default_factory=list)  # "open N", "closed N", in order
    requests: dict[int, list[str]] = field(default_factory=dict)  # connection N: what it carried
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, connection: int, event: str) -> None:
        with self.lock:
            if event in ("open", "closed"):
                self.events.append(f"{event} {connection}")
            else:
                self.requests.setdefault(connection, []).append(event)


@pytest.fixture
def identity_server() -> Iterator[IdentityServer]:
    state: list[IdentityServer] = []
    counter = iter(range(1, 1000))

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the client pools the connection

        def setup(self) -> None:
            super().setup()
            self.number = next(counter)
            state[0].record(self.number, "open")

        def finish(self) -> None:
            super().finish()
            state[0].record(self.number, "closed")

        def do_GET(self) -> None:  # the extension: GET /secretsmanager/get?secretId=<arn>
            assert self.path.startswith("/secretsmanager/get?secretId=")
            assert self.headers["X-Aws-Parameters-Secrets-Token"] == SESSION_TOKEN
            state[0].record(self.number, "secret")
            self.answer({"ARN": SECRET_ARN, "SecretString": "the-client-secret"})

        def do_POST(self) -> None:  # the token endpoint
            self.rfile.read(int(self.headers["content-length"]))
            state[0].record(self.number, "token")
            self.answer({"access_token": "at", "token_type": "Bearer", "expires_in": 3600})

        def answer(self, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.append(IdentityServer(port=server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# A before-snapshot hook registered ahead of the handler's import, as a library priming its
# connections would: the runtime runs it after the handler's (last registered, first run), so
# it leaves a connection and a cached secret in the snapshot. Then init, and two token
# requests (the first reads the secret and opens a pooled connection, the second reuses
# both); the before-snapshot hooks as the runtime runs them; then two restores of that
# snapshot, each with random's state as the snapshot held it and what the snapshot held
# pooled, running the after-restore hooks as the runtime does and asking for a token.
# (In this one process: a fork would share its event loop's epoll with the parent, which a
# restored machine does not.) Writes what it saw, one JSON line.
SNAPSHOT_AND_RESTORES = """
import json, sys
sys.path.insert(0, sys.argv[1])
event = json.loads(open(sys.argv[2]).read())
import snapshot_restore_py
primed = []
snapshot_restore_py.register_before_snapshot(lambda: primed.append(token()))
from service.runtime.aws_lambda import handler
import random  # as any library may import it during init, seeding it then

def token():
    answer = handler(event, None)
    return answer["statusCode"]

def run_before_snapshot():
    callables = snapshot_restore_py.get_before_snapshot()
    while callables:
        func, args, kwargs = callables.pop()
        func(*args, **kwargs)

def run_after_restore():
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)

seen = {"registered": [len(snapshot_restore_py.get_before_snapshot()), len(snapshot_restore_py.get_after_restore())]}
seen["before_snapshot_calls"] = [token(), token()]
run_before_snapshot()
seen["primed"] = primed
snapshot_state = random.getstate()
restores = []
for _ in range(2):
    random.setstate(snapshot_state)
    report = {"draw_before_hooks": random.random()}
    run_after_restore()
    report.update(status=token(), draw=random.random())
    restores.append(report)
seen["restores"] = restores
print(json.dumps(seen))
"""


def test_the_runtime_hooks_renew_connections_caches_and_randomness_in_every_restored_environment(
    identity_server: IdentityServer,
) -> None:
    env = {
        **LAMBDA_ENV,
        **PROVIDERS["oidc"],
        # One origin for the token endpoint and the extension, so one pooled connection serves both.
        "OIDC_TOKEN_URL": f"http://localhost:{identity_server.port}/token",
        "OIDC_CLIENT_SECRET_ARN": SECRET_ARN,
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(identity_server.port),
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
    }

    seen = run_python(SNAPSHOT_AND_RESTORES, env, str(EVENTS_DIR / "token_password_grant.json"))

    assert seen["before_snapshot_calls"] == [200, 200]
    assert seen["primed"] == [200]
    first, second = seen["restores"]
    assert first["status"] == second["status"] == 200
    # Connection 1: the secret, read once and cached, and both token requests; closed by the
    # handler's before-snapshot hooks, which also forgot the provider, before the priming hook
    # opened connection 2 and read the secret again. Each restore then closed the connection
    # it found pooled and, its own, read the secret anew, instead of using what the snapshot held.
    assert identity_server.requests == {
        1: ["secret", "token", "token"],
        2: ["secret", "token"],
        3: ["secret", "token"],
        4: ["secret", "token"],
    }
    events = identity_server.events
    assert events.index("closed 1") < events.index("open 2")
    assert events.index("closed 2") < events.index("open 3")
    assert events.index("closed 3") < events.index("open 4")
    # Restored from one snapshot, both environments hold one generator state: the same draw,
    # until the after-restore hooks reseed it.
    assert first["draw_before_hooks"] == second["draw_before_hooks"]
    assert first["draw"] != second["draw"]
    # Before the snapshot: the HTTP client's reset and the provider's (and the priming hook);
    # after each restore: those two, random's reseed and the request line's cold-start flag.
    assert seen["registered"] == [3, 4]


def test_without_the_runtime_module_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # python3.11 (no SnapStart) and a laptop have no snapshot_restore_py; importing it fails.
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    app = FastAPI()
    app.state.http = SharedHttpClient(timeout_seconds=1)

    assert register_snapshot_hooks(app) is False
