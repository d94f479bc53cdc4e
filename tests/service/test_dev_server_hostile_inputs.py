"""The server `make dev` runs, fed hostile input over a real socket: the documented answer, nothing in its log.

Both ways `make dev` serves: with reload (the default: uvicorn runs the app in a child
process, which applies the logging configuration again) and without.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.core.identity.local import load_or_create_signing_key
from tests.service.conftest import ADMIN, TokenForger, password_grant
from tests.support import assert_oauth_error, running_dev_server

pytestmark = pytest.mark.e2e


@dataclass
class DevServer:
    url: str
    log_path: Path
    forger: TokenForger

    def log(self) -> str:
        # The start-up banner names the public demo passwords on purpose; what follows must not.
        return self.log_path.read_text().split("Application startup complete", 1)[1]


@pytest.fixture(scope="module", params=[True, False], ids=["reload", "no-reload"])
def dev_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    workdir = tmp_path_factory.mktemp("dev-hostile")
    with running_dev_server(workdir, reload=request.param) as url:
        # The key the server generated at start: tokens signed with it are the issuer's own.
        forger = TokenForger(load_or_create_signing_key(workdir / "local-idp-key.pem"))
        yield DevServer(url=url, log_path=workdir / "dev-server.log", forger=forger)


def test_credentials_in_a_query_string_never_reach_the_log(dev_server: DevServer) -> None:
    with httpx.Client(base_url=dev_server.url, timeout=10) as client:
        token = password_grant(client, *ADMIN)["access_token"]
        client.get("/v1/users/whoami", params={"access_token": token})
        client.post("/v1/auth/token", params={"username": ADMIN[0], "password": "query-pass-1234"})
        client.get("/v1/manage/hc", params={"api_key": "AIzaQueryKey987", "page": "2"})
        client.get(f"/v1/manage/hc?{token}")
    log = dev_server.log()
    # The requests were logged, by parameter name.
    assert "GET /v1/users/whoami?access_token=*** HTTP/1.1" in log
    assert "POST /v1/auth/token?username=***&password=*** HTTP/1.1" in log
    assert "GET /v1/manage/hc?api_key=***&page=*** HTTP/1.1" in log
    assert "GET /v1/manage/hc?*** HTTP/1.1" in log
    for secret in (token, token.rsplit(".", 1)[1], "query-pass-1234", "AIzaQueryKey987", ADMIN[1]):
        assert secret not in log


def test_a_group_whose_name_has_a_space_does_not_pass_for_admins(dev_server: DevServer) -> None:
    token = dev_server.forger.token(groups=["Not ADMINS"])
    response = httpx.get(f"{dev_server.url}/v1/admin/endpoints", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["code"] == "missing_group"


def test_a_password_over_72_bytes_is_answered_as_a_wrong_password(dev_server: DevServer) -> None:
    with httpx.Client(base_url=dev_server.url, timeout=30) as client:
        wrong = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": "not-it"})
        answers = [
            client.post("/v1/auth/token", data={"username": username, "password": "long-pass-" + "x" * 80})
            for username in (ADMIN[0], "nobody@example.com")
        ]
    for answer in answers:
        assert_oauth_error(answer, error="invalid_grant", code="invalid_credentials")
        assert answer.json() == wrong.json()
    log = dev_server.log()
    assert "Traceback" not in log
    assert "long-pass-" not in log


def test_whoami_returns_a_string_claim_of_deeply_nested_json_text_as_that_string(dev_server: DevServer) -> None:
    nested = '{"a":' * 255 + "1" + "}" * 255
    token = dev_server.forger.token(name=nested)
    response = httpx.get(f"{dev_server.url}/v1/users/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["name"] == nested
    assert "Traceback" not in dev_server.log()


def test_two_authorization_headers_are_refused_as_the_sandbox_refuses_them(dev_server: DevServer) -> None:
    with httpx.Client(base_url=dev_server.url, timeout=10) as client:
        token = password_grant(client, *ADMIN)["access_token"]
        bearer = f"Bearer {token}"
        one = client.get("/v1/users/whoami", headers={"authorization": bearer})
        two = client.get("/v1/users/whoami", headers=[("authorization", bearer), ("authorization", bearer)])

    assert one.status_code == 200
    assert two.status_code == 401
    assert two.json() == {"message": "Unauthorized"}
