"""End to end: the real server `make dev` runs, on a free loopback port, over a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import ADMIN, USER, password_grant
from tests.support import running_dev_server


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dev")


@pytest.fixture(scope="module")
def server(workdir: Path) -> Iterator[str]:
    with running_dev_server(workdir) as base_url:
        yield base_url


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


def test_the_servers_log_carries_no_password_or_token(server: str, workdir: Path) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        tokens = password_grant(client, *ADMIN)
        client.post("/v1/auth/token", data={"username": ADMIN[0], "password": "not-the-password-42"})
        client.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        client.get("/v1/users/whoami", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        client.get("/v1/users/whoami", headers={"Authorization": "Bearer forged.token.value"})
    # The start-up banner names the public demo passwords on purpose; what follows must not.
    log = (workdir / "dev-server.log").read_text().split("Application startup complete", 1)[1]
    assert "POST /v1/auth/token" in log  # the access log is there, and was read
    for secret in (ADMIN[1], "not-the-password-42", tokens["access_token"], tokens["refresh_token"], "forged.token"):
        assert secret not in log
