"""`make sandbox` itself, end to end over a real socket, as a person runs it: synthesize, serve, sign in.

The command synthesizes the app with the pinned CLI for this machine (tens of seconds), serves
the result on the given port and prints where; then everything goes through the stage-prefixed
URL it printed, as a client of the deployed API would use it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.core.access.declaration import KNOWN_SCOPES
from service.core.identity.local import demo_users
from tests.declared import CALLER_PASSWORD, a_scoped_route, app_declares_a_scoped_route, caller_of, users_file
from tests.support import ROOT, free_port, server_env

pytestmark = pytest.mark.e2e

ADMIN = ("admin@example.com", "admin-password")
USER = ("user@example.com", "user-password")
# Synthesizing bundles the service; a cold cache of wheels needs PyPI the first time.
START_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class MadeSandbox:
    base_url: str
    port: int
    output: Path


@pytest.fixture(scope="module")
def made_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MadeSandbox]:
    port = free_port()
    workdir = tmp_path_factory.mktemp("make-sandbox")
    output = workdir / "make-sandbox.log"
    # A users file, as docs/recipes.md has a team write one: the demo users, and a caller of the
    # app's scoped route in its group (whatever the demo users hold).
    users = users_file(
        workdir / "users.json", *demo_users(admin_scopes=tuple(KNOWN_SCOPES)), caller_of(a_scoped_route())
    )
    with output.open("wb") as log:
        # Its own process group, so stopping it reaches make, the sandbox and nothing else.
        process = subprocess.Popen(
            ["make", "sandbox", f"PORT={port}", f"USERS_FILE={users}"],
            cwd=ROOT,
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}/mvp"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                if httpx.get(f"{base_url}/v1/not-a-route", timeout=2).status_code == 404:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make sandbox did not start:\n{output.read_text(errors='replace')}")
            time.sleep(0.5)
        yield MadeSandbox(base_url=base_url, port=port, output=output)
    finally:
        # Ctrl-C, as a person stops it.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def sign_in(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    assert tokens["token_type"] == "bearer"
    return {"authorization": f"Bearer {tokens['access_token']}"}


def test_it_prints_the_base_url_with_the_stage_the_docs_and_the_demo_users(made_sandbox: MadeSandbox) -> None:
    printed = made_sandbox.output.read_text()

    assert f"API:        {made_sandbox.base_url}  " in printed
    assert f"Docs:       {made_sandbox.base_url}/v1/docs" in printed
    assert "admin@example.com / admin-password (ADMINS, USERS)" in printed
    assert "user@example.com / user-password (USERS)" in printed


def test_sign_in_whoami_and_the_admin_route_through_the_stage(made_sandbox: MadeSandbox) -> None:
    with httpx.Client(base_url=made_sandbox.base_url, timeout=30) as client:
        admin, user = sign_in(client, *ADMIN), sign_in(client, *USER)
        whoami = client.get("/v1/users/whoami", headers=admin)
        as_admin = client.get("/v1/admin/endpoints", headers=admin)
        as_user = client.get("/v1/admin/endpoints", headers=user)

    assert whoami.status_code == 200
    assert whoami.json()["email"] == ADMIN[0]
    assert whoami.json()["groups"] == ["ADMINS", "USERS"]
    assert as_admin.status_code == 200
    assert {"GET /v1/admin/endpoints", "POST /v1/auth/token"} <= {f"{e['method']} {e['path']}" for e in as_admin.json()}
    assert as_user.status_code == 403
    assert as_user.json()["code"] == "missing_group"


def test_the_gateways_own_401_and_404(made_sandbox: MadeSandbox) -> None:
    with httpx.Client(base_url=made_sandbox.base_url, timeout=30) as client:
        no_token = client.get("/v1/users/whoami")
        no_route = client.get("/v1/nowhere")
    with httpx.Client(base_url=f"http://127.0.0.1:{made_sandbox.port}", timeout=30) as client:
        no_stage = client.get("/v1/manage/hc")

    assert no_token.status_code == 401
    assert no_token.json() == {"message": "Unauthorized"}
    assert no_token.headers["www-authenticate"].startswith("Bearer")
    assert no_route.status_code == 404
    assert no_route.json() == {"message": "Not Found"}
    assert no_stage.status_code == 404
    assert no_stage.json() == {"message": "Not Found"}


def test_a_user_of_the_users_file_in_the_routes_own_group_calls_it(made_sandbox: MadeSandbox) -> None:
    route, caller = a_scoped_route(), caller_of(a_scoped_route())
    with httpx.Client(base_url=made_sandbox.base_url, timeout=30) as client:
        headers = sign_in(client, caller.username, CALLER_PASSWORD)
        whoami = client.get("/v1/users/whoami", headers=headers)
        called = client.get(route.path, headers=headers)

    assert f"{caller.username} / (from the users file)" in made_sandbox.output.read_text()
    assert whoami.json()["groups"] == list(caller.groups)
    # The app's own route, or, where it has none, the throwaway the template does not route.
    assert called.status_code == (200 if app_declares_a_scoped_route() else 404)
