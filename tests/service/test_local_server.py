"""End to end: the real server `make dev` runs, on a free loopback port, over a real socket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import ADMIN, USER, password_grant
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in {"RUNTIME", "IDENTITY_PROVIDER", "JWT_ISSUER", "JWT_AUDIENCE"}
    }
    env["LOCAL_IDP_KEY_FILE"] = str(tmp_path_factory.mktemp("dev") / "key.pem")
    process = subprocess.Popen(
        [sys.executable, "-m", "service.runtime.local", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/v1/manage/hc", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"the dev server did not start:\n{output}")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_password_flow_whoami_and_admin_over_a_real_socket(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        admin_token = password_grant(client, *ADMIN)["access_token"]
        whoami = client.get("/v1/users/whoami", headers={"Authorization": f"Bearer {admin_token}"})
        assert whoami.status_code == 200
        assert whoami.json()["groups"] == ["ADMINS", "USERS"]
        endpoints = client.get("/v1/admin/endpoints", headers={"Authorization": f"Bearer {admin_token}"})
        assert endpoints.status_code == 200
        assert {"GET", "POST"} <= {e["method"] for e in endpoints.json()}

        user_token = password_grant(client, *USER)["access_token"]
        refused = client.get("/v1/admin/endpoints", headers={"Authorization": f"Bearer {user_token}"})
        assert refused.status_code == 403


def test_docs_are_served(server: str) -> None:
    page = httpx.get(f"{server}/v1/docs", timeout=10)
    assert page.status_code == 200
    assert "swagger-ui" in page.text


def test_no_token_gets_the_gateways_401(server: str) -> None:
    response = httpx.get(f"{server}/v1/users/whoami", timeout=10)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
