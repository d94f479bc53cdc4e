"""The post-traffic hook against the sandbox's gateway URL: the smoke script passes a good stack, fails a broken one.

The hook's handler runs here with boto3's Secrets Manager (moto's server, holding the offline
issuer's test user) and CodeDeploy (the status recorder) clients, and the smoke script through
the sandbox's HTTP API, as it runs through the stage's real gateway in AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hooks import post_traffic
from infra.constructs.deployment_hooks import hook_environment
from tests.hooks.conftest import (
    LambdaContext,
    SmokeSecrets,
    StatusRecorder,
    demo_user,
    hook_event,
    read_template,
)
from tests.smoke.test_smoke_sandbox import CHECKS, PUBLIC_CHECKS
from tests.support_sandbox import (
    STACK_TEMPLATE,
    RunningSandbox,
    ServedCopy,
    function_properties,
    resources,
    running_sandbox,
)

pytestmark = pytest.mark.e2e

HOOK_TIMEOUT_SECONDS = 90.0

RunPostHook = Callable[[RunningSandbox, str | None], tuple[str, list[str]]]


@pytest.fixture(scope="module")
def stack(
    sandbox_assembly: Path, offline_services: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    with running_sandbox(
        sandbox_assembly, tmp_path_factory.mktemp("post-traffic"), offline_url=offline_services
    ) as running:
        yield running


@pytest.fixture
def run_post_hook(
    sandbox_assembly: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    codedeploy: StatusRecorder,
) -> RunPostHook:
    """The hook's handler with the environment the construct gives it, against `running`'s gateway URL."""

    def run(running: RunningSandbox, secret_arn: str | None) -> tuple[str, list[str]]:
        variables = function_properties(read_template(sandbox_assembly, STACK_TEMPLATE))["Environment"]["Variables"]
        environment = hook_environment(
            groups_claim=variables["JWT_AUTHORIZATION_GROUPS_ATTR_NAME"],
            docs_enabled=variables["DOCS_ENABLED"] == "true",
            smoke_user_secret_arn=secret_arn,
        )
        for name, value in {**environment, "API_URL": running.base_url}.items():
            monkeypatch.setenv(name, value)
        if secret_arn is None:
            monkeypatch.delenv("SMOKE_USER_SECRET_ARN", raising=False)
        event = hook_event()
        capsys.readouterr()
        result = post_traffic.handler(event, LambdaContext(HOOK_TIMEOUT_SECONDS))
        lines = capsys.readouterr().out.splitlines()
        print("\n".join(lines))
        (call,) = codedeploy.calls
        assert call.deployment_id == event["DeploymentId"]
        assert result == {"status": call.status}
        return call.status, lines

    return run


def passed(lines: list[str]) -> list[str]:
    return [line.removeprefix("ok   ").partition(":")[0] for line in lines if line.startswith("ok   ")]


def failed(lines: list[str]) -> str | None:
    return next((line.removeprefix("FAIL ").partition(":")[0] for line in lines if line.startswith("FAIL ")), None)


def test_the_smoke_script_passes_through_the_gateway_with_the_test_user_and_the_hook_reports_succeeded(
    stack: RunningSandbox, run_post_hook: RunPostHook, smoke_secrets: SmokeSecrets
) -> None:
    user = demo_user("user@example.com")

    status, lines = run_post_hook(stack, smoke_secrets.create(user))

    assert status == "Succeeded"
    assert passed(lines) == list(CHECKS)
    assert not [line for line in lines if user["password"] in line or "eyJ" in line]


def test_without_a_test_user_the_unauthenticated_checks_pass_and_the_log_says_so(
    stack: RunningSandbox, run_post_hook: RunPostHook
) -> None:
    status, lines = run_post_hook(stack, None)

    assert status == "Succeeded"
    assert passed(lines) == list(PUBLIC_CHECKS)
    assert any("unauthenticated checks only" in line for line in lines)


def test_a_template_whose_routes_lost_their_authorizer_fails_the_hook(
    served_copy: ServedCopy, run_post_hook: RunPostHook, smoke_secrets: SmokeSecrets
) -> None:
    def no_authorizer(template: dict[str, Any]) -> None:
        for route in resources(template, "AWS::ApiGatewayV2::Route").values():
            route["Properties"]["AuthorizationType"] = "NONE"
            route["Properties"].pop("AuthorizerId", None)
            route["Properties"].pop("AuthorizationScopes", None)

    status, lines = run_post_hook(served_copy(no_authorizer), smoke_secrets.create(demo_user("admin@example.com")))

    assert (status, failed(lines)) == ("Failed", "no token")
    assert lines[-1].startswith("post-traffic: reported Failed")
