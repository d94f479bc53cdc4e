"""The bundled asset, started as Lambda starts it: `awslambdaric` in its own process, the template's environment.

Every request goes through the sandbox's gateway over a real socket, so each answer is what
API Gateway would give a client. The sandbox's log is the function's log: its own lines,
and the platform's (`REPORT` per invocation, `Init Duration` on a cold start, timeouts).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.declared import a_scoped_route, app_declares_a_scoped_route, caller_of, with_throwaway_route
from tests.support import STACK_NAME
from tests.support_sandbox import (
    RunningSandbox,
    changed_assembly,
    function_properties,
    offline_bearer,
    running_sandbox,
)

pytestmark = pytest.mark.e2e

ADMIN = ("admin@example.com", "admin-password")
USER = ("user@example.com", "user-password")
GATEWAY_500 = {"message": "Internal Server Error"}


def sign_in(client: httpx.Client, username: str, password: str) -> dict[str, Any]:
    response = client.post("/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture(scope="module")
def sandbox(
    sandbox_assembly: Path, offline_services: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    workdir = tmp_path_factory.mktemp("runtime-client")
    assembly = sandbox_assembly
    if not app_declares_a_scoped_route():
        # The gateway gets the throwaway route; the function, which does not serve it, answers 404.
        assembly = changed_assembly(sandbox_assembly, workdir / "cdk.out", with_throwaway_route)
    with running_sandbox(assembly, workdir, offline_url=offline_services) as running:
        yield running


def test_a_cold_start_then_warm_invocations_across_every_route_in_one_process(
    sandbox: RunningSandbox, offline_services_dir: Path
) -> None:
    route = a_scoped_route()
    # Callers minted from the route's declaration: its scope and group, and the same without the scope.
    caller = offline_bearer(offline_services_dir, caller_of(route))
    no_scope = offline_bearer(offline_services_dir, caller_of(route, username="no-scope@example.com", scopes=()))
    served = 200 if app_declares_a_scoped_route() else 404
    with httpx.Client(base_url=sandbox.base_url, timeout=30) as client:
        first = client.get("/v1/manage/hc")
        assert first.status_code == 200
        assert first.json() == {"status": "ok"}

        admin, user = sign_in(client, *ADMIN), sign_in(client, *USER)
        # Each answer as API Gateway gives it: the function's own, or the gateway's refusal.
        expected: list[tuple[str, str, dict[str, str], dict[str, str] | None, int]] = [
            ("GET", "/v1/manage/hc", {}, None, 200),
            ("GET", "/v1/users/whoami", bearer(admin), None, 200),
            ("GET", "/v1/users/whoami", bearer(user), None, 200),
            ("GET", "/v1/admin/endpoints", bearer(admin), None, 200),
            ("GET", "/v1/admin/endpoints", bearer(user), None, 403),
            ("GET", route.path, caller, None, served),
            ("GET", "/v1/docs", {}, None, 200),
            ("GET", "/v1/redoc", {}, None, 200),
            ("GET", "/v1/openapi.json", {}, None, 200),
        ]
        # The token route once per round at most: the template throttles it (the stage's
        # route settings, burst 10 by cdk.json), and a second round would meet the gateway's 429.
        token_calls: list[tuple[str, str, dict[str, str], dict[str, str] | None, int]] = [
            (
                "POST",
                "/v1/auth/token",
                {},
                {"grant_type": "refresh_token", "refresh_token": admin["refresh_token"]},
                200,
            ),
            ("POST", "/v1/auth/token", {}, {"username": ADMIN[0], "password": "wrong"}, 400),
        ]
        invoked = 0
        for round_number in range(6):
            for method, path, headers, form, status in expected + (token_calls if round_number == 0 else []):
                response = client.request(method, path, headers=headers, data=form)
                assert response.status_code == status, (path, response.text)
                invoked += 1
        # Refused by the gateway, never invoked.
        assert client.get(route.path, headers=no_scope).json() == {"message": "Forbidden"}
        assert client.get("/v1/users/whoami").json() == {"message": "Unauthorized"}
        assert client.get("/v1/no-such-route").json() == {"message": "Not Found"}

        whoami = client.get("/v1/users/whoami", headers=bearer(admin)).json()
        document = client.get("/v1/openapi.json").json()

    assert whoami["groups"] == ["ADMINS", "USERS"]  # flattened by the gateway, restored by the function
    assert document["servers"] == [{"url": "/mvp"}]
    reports = sandbox.reports()
    # 1 health, 2 sign-ins, the rounds, whoami and the document: every one an invocation of the same process.
    assert len(reports) == 1 + 2 + invoked + 2 >= 50
    assert sandbox.cold_starts() == 1
    assert "Init Duration" in reports[0]
    assert not [line for line in sandbox.function_log() if "Runtime exited" in line or "Traceback" in line]


@pytest.fixture(scope="module")
def probe_sandbox(
    sandbox_assembly: Path, offline_services: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """The asset with a handler around the service's that runs asyncio.run at init and between invocations."""
    workdir = tmp_path_factory.mktemp("probe")

    def probe_handler(template: dict[str, Any]) -> None:
        function_properties(template)["Handler"] = "sandbox_probe.handler"

    assembly = changed_assembly(sandbox_assembly, workdir / "cdk.out", probe_handler, probe=True)
    with running_sandbox(assembly, workdir, offline_url=offline_services, name="probe") as running:
        yield running


@pytest.mark.parametrize("then", ["close-loop", "asyncio-run"])
def test_every_invocation_answers_whatever_code_in_the_process_does_to_the_event_loop(
    probe_sandbox: RunningSandbox, then: str
) -> None:
    """asyncio.run at init left no current loop; each invocation then closes or replaces the loop."""
    with httpx.Client(base_url=probe_sandbox.base_url, timeout=30) as client:
        statuses = [client.get("/v1/manage/hc", params={"then": then}).status_code for _ in range(25)]

    assert statuses == [200] * 25


def test_the_process_imports_only_the_asset_the_runtime_client_and_the_standard_library(
    probe_sandbox: RunningSandbox,
) -> None:
    with httpx.Client(base_url=probe_sandbox.base_url, timeout=30) as client:
        client.get("/v1/manage/hc")  # the service's handler has run
        imports = client.get("/v1/manage/hc", params={"probe": "imports"}).json()

    assert imports["outside"] == []
    assert imports["path_outside"] == []
    assert not [entry for entry in imports["path"] if "site-packages" in entry]
    task_root, runtime_dir = imports["allowed"][:2]
    # The task root first, the runtime client after it, as in Lambda.
    assert imports["path"].index(task_root) < imports["path"].index(runtime_dir)


def test_the_process_has_the_templates_environment_and_the_variables_lambda_sets_and_nothing_else(
    probe_sandbox: RunningSandbox,
) -> None:
    with httpx.Client(base_url=probe_sandbox.base_url, timeout=30) as client:
        environment = client.get("/v1/manage/hc", params={"probe": "environment"}).json()

    # The template's.
    assert (environment["RUNTIME"], environment["AWS_API_GW_STAGE_NAME"]) == ("LAMBDA", "mvp")
    assert environment["IDENTITY_PROVIDER"] == "oidc"
    # Lambda's.
    assert environment["_HANDLER"] == "sandbox_probe.handler"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"].startswith(f"{STACK_NAME}-")
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert environment["AWS_LAMBDA_FUNCTION_VERSION"] == "1"
    assert environment["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    assert environment["AWS_EXECUTION_ENV"].startswith("AWS_Lambda_python3.")
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"]
    assert Path(environment["LAMBDA_TASK_ROOT"]).name.startswith("asset.")  # the bundle, in cdk.out
    assert environment["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    # Nothing of the shell that started the sandbox.
    assert not {"HOME", "VIRTUAL_ENV", "PYTEST_CURRENT_TEST"} & set(environment)


def test_a_crashed_process_is_the_gateways_500_and_the_next_invocation_starts_afresh(
    probe_sandbox: RunningSandbox,
) -> None:
    with httpx.Client(base_url=probe_sandbox.base_url, timeout=30) as client:
        client.get("/v1/manage/hc")
        cold_before = probe_sandbox.cold_starts()
        crashed = client.get("/v1/manage/hc", params={"probe": "crash"})
        after = client.get("/v1/manage/hc")

    assert crashed.status_code == 500
    assert crashed.json() == GATEWAY_500
    assert any("Runtime exited with error: exit status 3" in line for line in probe_sandbox.function_log())
    assert after.status_code == 200
    assert probe_sandbox.cold_starts() == cold_before + 1


def test_an_exception_raised_into_the_runtime_is_the_gateways_500_and_the_process_lives_on(
    probe_sandbox: RunningSandbox,
) -> None:
    with httpx.Client(base_url=probe_sandbox.base_url, timeout=30) as client:
        client.get("/v1/manage/hc")
        cold_before = probe_sandbox.cold_starts()
        raised = client.get("/v1/manage/hc", params={"probe": "raise"})
        after = client.get("/v1/manage/hc")

    assert raised.status_code == 500
    assert raised.json() == GATEWAY_500
    # The runtime client reported it (its log line, then /invocation/{id}/error) and asked for the next.
    assert any('"errorType": "RuntimeError"' in line for line in probe_sandbox.function_log())
    assert after.status_code == 200
    assert probe_sandbox.cold_starts() == cold_before


def test_a_response_over_lambdas_6_mb_is_refused_and_the_gateway_answers_500(probe_sandbox: RunningSandbox) -> None:
    with httpx.Client(base_url=probe_sandbox.base_url, timeout=30) as client:
        response = client.get("/v1/manage/hc", params={"probe": "huge"})

    assert response.status_code == 500
    assert response.json() == GATEWAY_500


@pytest.fixture(scope="module")
def stalled_provider() -> Iterator[str]:
    """A token URL whose server accepts the connection (the kernel does) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/token"


def test_a_function_past_its_timeout_is_stopped_answered_500_and_started_afresh(
    sandbox_assembly: Path, offline_services: str, stalled_provider: str, tmp_path: Path
) -> None:
    def two_second_timeout(template: dict[str, Any]) -> None:
        function = function_properties(template)
        function["Timeout"] = 2
        # The provider's deadline (8 s) outlasts the function's: the sign-in hangs past the timeout.
        function["Environment"]["Variables"]["OIDC_TOKEN_URL"] = stalled_provider

    assembly = changed_assembly(sandbox_assembly, tmp_path / "cdk.out", two_second_timeout)
    with (
        running_sandbox(assembly, tmp_path, offline_url=offline_services) as running,
        httpx.Client(base_url=running.base_url, timeout=30) as client,
    ):
        assert client.get("/v1/manage/hc").status_code == 200
        timed_out = client.post("/v1/auth/token", data={"username": ADMIN[0], "password": ADMIN[1]})
        after = client.get("/v1/manage/hc")

        assert timed_out.status_code == 500
        assert timed_out.json() == GATEWAY_500
        assert any(line.endswith("Task timed out after 2.00 seconds") for line in running.function_log())
        assert after.status_code == 200
        # The timed-out environment was stopped: the next invocation was a cold start.
        assert running.cold_starts() == 2


def test_an_init_failure_from_a_bad_setting_is_the_gateways_500_and_a_log_line_naming_the_variable(
    sandbox_assembly: Path, offline_services: str, tmp_path: Path
) -> None:
    def bad_setting(template: dict[str, Any]) -> None:
        function_properties(template)["Environment"]["Variables"]["PROVIDER_TIMEOUT_SECONDS"] = "soon"

    assembly = changed_assembly(sandbox_assembly, tmp_path / "cdk.out", bad_setting)
    with (
        running_sandbox(assembly, tmp_path, offline_url=offline_services) as running,
        httpx.Client(base_url=running.base_url, timeout=30) as client,
    ):
        first = client.get("/v1/manage/hc")
        second = client.get("/v1/manage/hc")

        assert (first.status_code, second.status_code) == (500, 500)
        assert first.json() == second.json() == GATEWAY_500
        log = running.function_log()
        # The runtime client's own line, from the service's message: the variable, never its value.
        named = [line for line in log if "PROVIDER_TIMEOUT_SECONDS" in line and "SettingsError" in line]
        assert named
        assert not [line for line in named if "soon" in line]
        # Lambda tries the init again with the next invocation.
        assert sum(line.startswith("INIT_REPORT") and "Status: error" in line for line in log) == 2
