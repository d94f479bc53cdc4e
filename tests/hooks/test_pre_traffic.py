"""The pre-traffic hook against the sandbox's function: a good version passes, each broken one fails on its check.

The hook's handler runs here with the AWS SDK it runs with in Lambda (boto3's Lambda, CodeDeploy
and Secrets Manager clients), against loopback endpoints: the sandbox's Invoke API in front of
the function it runs from the synthesized asset, moto's Secrets Manager holding the smoke
user, and a recorder of CodeDeploy's status calls. Its environment is what the construct gives
it (`pre_traffic_environment`), built from the unchanged template: a broken version changes
only the function, as a bad commit would.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from hooks import pre_traffic
from hooks.lifecycle import REPORT_RESERVE_SECONDS
from infra.constructs.deployment_hooks import hook_environment, pre_traffic_environment
from sandbox.assembly import load_http_api
from tests.hooks.conftest import (
    REGION,
    LambdaContext,
    SmokeSecrets,
    StatusRecorder,
    demo_user,
    hook_event,
    read_template,
)
from tests.support_sandbox import (
    STACK_TEMPLATE,
    RunningSandbox,
    changed_assembly,
    function_properties,
    resources,
    running_sandbox,
)

pytestmark = pytest.mark.e2e

HOOK_TIMEOUT_SECONDS = 90.0
BROKEN_HANDLER_MODULE = Path(__file__).parent / "broken_whoami.py"
ADMIN = "admin@example.com"
AUTHENTICATED_CHECKS = ["health", "docs", "wrong password", "no authorizer context", "sign-in", "whoami", "admin"]


def hook_environment_of(assembly: Path, invoke_url: str, secret_arn: str | None) -> dict[str, str]:
    """The pre hook's environment as the construct would set it for this template's stack."""
    template = read_template(assembly, STACK_TEMPLATE)
    (function,) = load_http_api(assembly).functions
    (authorizer,) = resources(template, "AWS::ApiGatewayV2::Authorizer").values()
    (identity_source,) = authorizer["Properties"]["IdentitySource"]
    variables = function_properties(template)["Environment"]["Variables"]
    scoped = {
        route["Properties"]["RouteKey"]
        for route in resources(template, "AWS::ApiGatewayV2::Route").values()
        if route["Properties"].get("AuthorizationScopes")
    }
    return {
        **hook_environment(
            groups_claim=variables["JWT_AUTHORIZATION_GROUPS_ATTR_NAME"],
            docs_enabled=variables["DOCS_ENABLED"] == "true",
            smoke_user_secret_arn=secret_arn,
        ),
        **pre_traffic_environment(
            target=f"arn:aws:lambda:{REGION}:123456789012:function:{function.name}:1",
            target_timeout_seconds=function.timeout_seconds,
            stage_name=variables["AWS_API_GW_STAGE_NAME"],
            api_domain=f"abc123.execute-api.{REGION}.amazonaws.com",
            identity_header=identity_source.removeprefix("$request.header."),
            scoped_route_keys=scoped,
        ),
        "AWS_ENDPOINT_URL_LAMBDA": invoke_url,
    }


HookRun = tuple[str, list[str]]
RunPreHook = Callable[[RunningSandbox, str | None], HookRun]


@pytest.fixture
def run_pre_hook(
    sandbox_assembly: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    codedeploy: StatusRecorder,
) -> RunPreHook:
    """Run the hook's handler against a running sandbox; its reported status and its output lines."""

    def run(running: RunningSandbox, secret_arn: str | None) -> HookRun:
        assert running.invoke_url is not None
        for name, value in hook_environment_of(sandbox_assembly, running.invoke_url, secret_arn).items():
            monkeypatch.setenv(name, value)
        event = hook_event()
        capsys.readouterr()
        result = pre_traffic.handler(event, LambdaContext(HOOK_TIMEOUT_SECONDS))
        lines = capsys.readouterr().out.splitlines()
        print("\n".join(lines))  # the hook's log, for whoever reads the test's output
        (call,) = codedeploy.calls
        assert call.deployment_id == event["DeploymentId"]
        assert call.execution_id == event["LifecycleEventHookExecutionId"]
        assert result == {"status": call.status}
        return call.status, lines

    return run


def failed_check(lines: list[str]) -> str | None:
    failed = [line.removeprefix("FAIL ").partition(":")[0] for line in lines if line.startswith("FAIL ")]
    return failed[0] if failed else None


def passed_checks(lines: list[str]) -> list[str]:
    return [line.removeprefix("ok   ").partition(":")[0] for line in lines if line.startswith("ok   ")]


@pytest.fixture(scope="module")
def good_version(
    sandbox_assembly: Path, offline_services: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    workdir = tmp_path_factory.mktemp("pre-traffic")
    with running_sandbox(sandbox_assembly, workdir, offline_url=offline_services, invoke_api=True) as running:
        yield running


BreakVersion = Callable[..., AbstractContextManager[RunningSandbox]]


@pytest.fixture
def broken_version(sandbox_assembly: Path, offline_services: str, tmp_path: Path) -> BreakVersion:
    """Serve a copy of the assembly whose function `change` broke (and, given one, with another handler module)."""

    @contextmanager
    def serve(change: Callable[[dict[str, Any]], None], handler_module: Path | None = None) -> Iterator[RunningSandbox]:
        assembly = changed_assembly(sandbox_assembly, tmp_path / "cdk.out", change)
        if handler_module is not None:
            for asset in assembly.glob("asset.*"):
                source = asset.resolve()
                asset.unlink()
                shutil.copytree(source, asset)
                shutil.copy2(handler_module, asset / handler_module.name)
        with running_sandbox(assembly, tmp_path, offline_url=offline_services, invoke_api=True) as running:
            yield running

    return serve


def function_variable(name: str, value: str) -> Callable[[dict[str, Any]], None]:
    def change(template: dict[str, Any]) -> None:
        function_properties(template)["Environment"]["Variables"][name] = value

    return change


def test_a_good_version_passes_every_check_and_the_hook_reports_succeeded(
    good_version: RunningSandbox, run_pre_hook: RunPreHook, smoke_secrets: SmokeSecrets
) -> None:
    status, lines = run_pre_hook(good_version, smoke_secrets.create(demo_user(ADMIN)))

    assert status == "Succeeded"
    assert passed_checks(lines) == AUTHENTICATED_CHECKS
    # Neither the password nor a token reaches the log.
    assert not [line for line in lines if demo_user(ADMIN)["password"] in line or "eyJ" in line]


def test_a_user_outside_the_admin_group_expects_the_admin_routes_403(
    good_version: RunningSandbox, run_pre_hook: RunPreHook, smoke_secrets: SmokeSecrets
) -> None:
    status, lines = run_pre_hook(good_version, smoke_secrets.create(demo_user("user@example.com")))

    assert status == "Succeeded"
    (admin,) = [line for line in lines if line.startswith("ok   admin:")]
    assert ": 403" in admin


def test_without_a_smoke_user_the_unauthenticated_checks_run_and_the_log_names_the_skipped_ones(
    good_version: RunningSandbox, run_pre_hook: RunPreHook
) -> None:
    status, lines = run_pre_hook(good_version, None)

    assert status == "Succeeded"
    assert passed_checks(lines) == AUTHENTICATED_CHECKS[:4]
    assert any(line.startswith("skip sign-in, whoami, admin: no smoke user") for line in lines)


def test_a_secret_the_hook_cannot_read_fails_the_hook(
    good_version: RunningSandbox, run_pre_hook: RunPreHook, smoke_secrets: SmokeSecrets
) -> None:
    missing = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:no-such-user-AbCdEf"

    status, lines = run_pre_hook(good_version, missing)

    assert (status, failed_check(lines)) == ("Failed", "setup")
    assert "ResourceNotFoundException" in lines[-2]


# Each deliberately broken version: the template change (and handler) that breaks it, the check that must fail.
BROKEN_VERSIONS: dict[str, tuple[Callable[[dict[str, Any]], None], Path | None, str]] = {
    "init fails": (function_variable("PROVIDER_TIMEOUT_SECONDS", "soon"), None, "health"),
    "whoami answers 500": (
        lambda template: _handler(template, f"{BROKEN_HANDLER_MODULE.stem}.handler"),
        BROKEN_HANDLER_MODULE,
        "whoami",
    ),
    "wrong identity-source setting": (
        function_variable("JWT_IDENTITY_SOURCE", "$request.header.X-Api-Token"),
        None,
        "whoami",
    ),
    "wrong groups claim name": (function_variable("JWT_AUTHORIZATION_GROUPS_ATTR_NAME", "roles"), None, "admin"),
}


def _handler(template: dict[str, Any], handler: str) -> None:
    function_properties(template)["Handler"] = handler


@pytest.mark.parametrize("broken", list(BROKEN_VERSIONS))
def test_a_broken_version_fails_the_hook_naming_the_check(
    broken: str, broken_version: BreakVersion, run_pre_hook: RunPreHook, smoke_secrets: SmokeSecrets
) -> None:
    change, handler_module, check = BROKEN_VERSIONS[broken]
    with broken_version(change, handler_module) as running:
        status, lines = run_pre_hook(running, smoke_secrets.create(demo_user(ADMIN)))

    assert (status, failed_check(lines)) == ("Failed", check)
    assert lines[-1].startswith("pre-traffic: reported Failed")


def test_a_token_route_that_cannot_reach_the_identity_provider_fails_the_wrong_password_check(
    broken_version: BreakVersion, run_pre_hook: RunPreHook
) -> None:
    # Nothing listens there: the provider is unreachable (no test user needed to find it out).
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{closed.getsockname()[1]}/token"
    change = function_variable("OIDC_TOKEN_URL", unreachable)
    with broken_version(change) as running:
        status, lines = run_pre_hook(running, None)

    assert (status, failed_check(lines)) == ("Failed", "wrong password")
    assert "expected 400 invalid_grant" in next(line for line in lines if line.startswith("FAIL "))


def test_a_version_that_never_answers_fails_the_hook_before_its_own_timeout(
    monkeypatch: pytest.MonkeyPatch,
    sandbox_assembly: Path,
    capsys: pytest.CaptureFixture[str],
    codedeploy: StatusRecorder,
) -> None:
    # Lambda's endpoint accepts the connection and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        for name, value in hook_environment_of(sandbox_assembly, url, None).items():
            monkeypatch.setenv(name, value)
        timeout = REPORT_RESERVE_SECONDS + 3
        started = time.monotonic()
        result = pre_traffic.handler(hook_event(), LambdaContext(timeout))
        elapsed = time.monotonic() - started

    assert result == {"status": "Failed"}
    assert codedeploy.statuses() == ["Failed"]
    assert elapsed < timeout
    assert failed_check(capsys.readouterr().out.splitlines()) == "health"


def test_a_target_that_names_no_function_fails_the_hook(
    good_version: RunningSandbox, run_pre_hook: RunPreHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_setenv = monkeypatch.setenv

    def wrong_target(name: str, value: str, prepend: str | None = None) -> None:
        real_setenv(name, value.replace(":function:", ":function:not-") if name == "TARGET_FUNCTION_ARN" else value)

    monkeypatch.setattr(monkeypatch, "setenv", wrong_target)
    status, lines = run_pre_hook(good_version, None)

    assert (status, failed_check(lines)) == ("Failed", "health")
    assert "ResourceNotFoundException" in next(line for line in lines if line.startswith("FAIL "))
