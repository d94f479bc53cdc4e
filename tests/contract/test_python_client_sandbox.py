"""The generated clients against `make sandbox`, and the document the function serves there.

Each demo user signs in (the password grant, `api_client.oauth`), calls the routes any valid
token may call, and the group-guarded ones: 200 in the group, 403 outside it; a token near its
expiry is refreshed with the refresh grant before the request. The routes are the document's,
called through the generated module of each operation.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from api_client import Client
from api_client.oauth import OAuthTokens, SignInFailed, password_grant
from contract.access import GROUPS_EXTENSION, operations
from contract.document import DOCUMENT
from sandbox.offline import DEMO_PASSWORDS
from service.core.identity.local import DEMO_USERS
from tests.support import ROOT
from tests.support_sandbox import RunningSandbox, running_sandbox

pytestmark = pytest.mark.e2e

COMMITTED: dict[str, Any] = json.loads(DOCUMENT.read_text())


def _module(operation: dict[str, Any]) -> ModuleType:
    """The generated module of an operation: `api_client.api.<tag>.<operationId>`."""
    return importlib.import_module(f"api_client.api.{operation['tags'][0]}.{operation['operationId']}")


def _callable(predicate: Callable[[dict[str, Any]], bool]) -> list[tuple[str, dict[str, Any]]]:
    """GET operations without parameters whose access matches `predicate`."""
    return [
        (path, operation)
        for method, path, operation in operations(COMMITTED)
        if method == "GET" and not operation.get("parameters") and predicate(operation)
    ]


def _scopes(operation: dict[str, Any]) -> list[str]:
    return [
        scope for requirement in operation.get("security") or [] for names in requirement.values() for scope in names
    ]


# Any valid token; and those that also need a group (not a scope, which the sandbox's users may lack).
TOKEN_ONLY = _callable(lambda o: bool(o.get("security")) and not _scopes(o) and GROUPS_EXTENSION not in o)
GROUP_GUARDED = _callable(lambda o: bool(o.get("security")) and not _scopes(o) and GROUPS_EXTENSION in o)


@pytest.fixture(scope="module")
def sandbox(
    sandbox_assembly: Path, offline_services: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    workdir = tmp_path_factory.mktemp("client-sandbox")
    with running_sandbox(sandbox_assembly, workdir, offline_url=offline_services, name="client") as running:
        yield running


class Clock:
    """A monotonic clock the test moves forward."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("user", DEMO_USERS, ids=[user.username for user in DEMO_USERS])
def test_each_demo_user_signs_in_and_calls_the_routes_open_to_it(sandbox: RunningSandbox, user: Any) -> None:
    if not TOKEN_ONLY and not GROUP_GUARDED:
        pytest.skip("the document has no protected GET route without scopes and parameters")
    sent: list[httpx.Request] = []
    auth = password_grant(sandbox.base_url, user.username, DEMO_PASSWORDS[user.username])
    client = Client(base_url=sandbox.base_url, httpx_args={"auth": auth, "event_hooks": {"request": [sent.append]}})

    for path, operation in TOKEN_ONLY:
        answer = _module(operation).sync_detailed(client=client)
        assert answer.status_code == 200, f"{user.username} GET {path}: {answer.status_code} {answer.content!r}"
        assert answer.parsed is not None
    for path, operation in GROUP_GUARDED:
        expected = 200 if set(user.groups) & set(operation[GROUPS_EXTENSION]) else 403
        answer = _module(operation).sync_detailed(client=client)
        assert answer.status_code == expected, f"{user.username} GET {path}: {answer.status_code}"
        if expected == 403:
            assert getattr(answer.parsed, "code", None) == "missing_group"

    # One sign-in for all those calls.
    assert [request.url.path for request in sent].count(sandbox.prefix + "/v1/auth/token") == 1


def test_a_token_near_its_expiry_is_refreshed_before_the_request(sandbox: RunningSandbox) -> None:
    if not TOKEN_ONLY:
        pytest.skip("the document has no GET route that any valid token may call")
    path, operation = TOKEN_ONLY[0]
    user = DEMO_USERS[0]
    clock = Clock()
    sign_in = password_grant(sandbox.base_url, user.username, DEMO_PASSWORDS[user.username])
    auth = OAuthTokens(sign_in.token_url, sign_in.grant, clock=clock)
    forms: list[str] = []

    def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/v1/auth/token"):
            forms.append(request.content.decode())

    client = Client(base_url=sandbox.base_url, httpx_args={"auth": auth, "event_hooks": {"request": [record]}})
    assert _module(operation).sync_detailed(client=client).status_code == 200
    assert auth.tokens is not None
    first = auth.tokens.access_token

    clock.now = auth.expires_at - auth.refresh_margin + 1
    assert _module(operation).sync_detailed(client=client).status_code == 200, path

    assert [form.split("&")[0] for form in forms] == ["grant_type=password", "grant_type=refresh_token"]
    assert auth.tokens.access_token != first


def test_a_wrong_password_is_an_rfc_6749_error(sandbox: RunningSandbox) -> None:
    if not TOKEN_ONLY:
        pytest.skip("the document has no GET route that any valid token may call")
    auth = password_grant(sandbox.base_url, DEMO_USERS[0].username, "not-the-password")
    client = Client(base_url=sandbox.base_url, httpx_args={"auth": auth})

    with pytest.raises(SignInFailed) as refused:
        _module(TOKEN_ONLY[0][1]).sync_detailed(client=client)

    assert (refused.value.status_code, refused.value.error) == (400, "invalid_grant")


def test_the_function_serves_the_committed_document_behind_its_stage(sandbox: RunningSandbox) -> None:
    served = httpx.get(f"{sandbox.base_url}/v1/openapi.json", timeout=30).json()

    # Less what it adds per request: the stage as its server, and before the token URL.
    assert served.pop("servers") == [{"url": sandbox.prefix}]
    for scheme in served["components"]["securitySchemes"].values():
        flow = scheme["flows"]["password"]
        flow["tokenUrl"] = flow["tokenUrl"].removeprefix(sandbox.prefix)
    assert served == COMMITTED


def test_the_typescript_client_signs_in_and_calls_the_routes(sandbox: RunningSandbox, tmp_path: Path) -> None:
    # Node.js runs the client's TypeScript as it is (type stripping); the venv's Node.js is recent enough.
    node = Path(sys.executable).parent / "node"
    if not TOKEN_ONLY and not GROUP_GUARDED:
        pytest.skip("the document has no protected GET route without scopes and parameters")
    client = ROOT / "clients" / "typescript" / "src" / "client.ts"
    calls = [path for path, _ in TOKEN_ONLY + GROUP_GUARDED]
    script = tmp_path / "consumer.mts"
    script.write_text(
        f'import {{ createApiClient, TokenSession }} from "{client}";\n'
        "const [baseUrl, username, password, ...paths] = process.argv.slice(2);\n"
        "const api = createApiClient(baseUrl, new TokenSession(baseUrl, username, password));\n"
        "for (const path of paths) {\n"
        "  const { response } = await api.GET(path as any);\n"
        "  console.log(`${path} ${response.status}`);\n"
        "}\n"
    )
    for user in DEMO_USERS:
        ran = subprocess.run(
            [str(node), str(script), sandbox.base_url, user.username, DEMO_PASSWORDS[user.username], *calls],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stderr[-2000:]
        expected = [f"{path} 200" for path, _ in TOKEN_ONLY] + [
            f"{path} {200 if set(user.groups) & set(operation[GROUPS_EXTENSION]) else 403}"
            for path, operation in GROUP_GUARDED
        ]
        assert ran.stdout.splitlines() == expected
