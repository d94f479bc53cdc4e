"""What both hooks share: CodeDeploy's event, a deadline kept, and exactly one status report.

CodeDeploy invokes a hook with `{"DeploymentId": ..., "LifecycleEventHookExecutionId": ...}`
and waits for PutLifecycleEventHookExecutionStatus with `Succeeded` or `Failed` (AWS,
"AppSpec 'hooks' section for an AWS Lambda deployment"; the API reference of
PutLifecycleEventHookExecutionStatus: only those two are accepted). A hook that never reports
fails its deployment after an hour (davidgf/serverless-plugin-canary-deployments issues 32
and 93, the plugin's maintainer and a user: "the CodeDeploy hook therefore times out after an
hour and the deployment fails"), an hour in which the alias keeps the old version and the stack
update waits. So the hook never lets that happen: the checks run in a worker thread, and the
hook reports when they finish or when its own time is nearly up, whichever comes first,
`Failed` in the second case. The status call carries no message, so the hook's log (its own
log group) names the check that failed. (docs/aws-facts.md, row "CodeDeploy lifecycle hooks")
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

# Kept back from the function's timeout for the status call itself (its connect and read
# timeouts, two attempts: `STATUS_CLIENT_CONFIG`), so the report always goes out in time.
REPORT_RESERVE_SECONDS = 12.0
# docs/aws-facts.md, row "CodeDeploy lifecycle hooks": the two statuses CodeDeploy accepts.
SUCCEEDED = "Succeeded"
FAILED = "Failed"


class CheckFailed(Exception):
    """A check's verdict: what was expected, and what answered instead."""


class LambdaContext(Protocol):
    """The part of Lambda's context object a hook reads."""

    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class HookEvent:
    """What CodeDeploy hands a lifecycle hook."""

    deployment_id: str
    execution_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> HookEvent:
        deployment_id, execution_id = event.get("DeploymentId"), event.get("LifecycleEventHookExecutionId")
        if not isinstance(deployment_id, str) or not isinstance(execution_id, str):
            raise ValueError("not a CodeDeploy lifecycle event: DeploymentId and LifecycleEventHookExecutionId")
        return cls(deployment_id=deployment_id, execution_id=execution_id)


class Log:
    """One line per check on the hook's output (its log group), flushed at once."""

    def __init__(self, name: str, out: TextIO | None = None) -> None:
        self.name = name
        self.out = out or sys.stdout

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def required_variable(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise CheckFailed(f"the hook's environment has no {name} (set at synth): it cannot run")
    return value


def aws_error_code(error: BaseException) -> str:
    """An AWS SDK error's code (`AccessDeniedException`), or the error's type (`ReadTimeoutError`); never its text."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else type(error).__name__


def within_deadline(run: Callable[[float], bool], *, seconds: float, log: Log) -> bool:
    """`run(seconds)`'s verdict, or False if it has none within `seconds` (or raised).

    `run` gets the seconds it may take and should keep to them itself; the thread is a daemon
    so that one stuck in a call cannot hold the report back (Lambda freezes it afterwards).
    """
    verdict: list[bool] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            verdict.append(run(seconds))
        except BaseException as error:  # noqa: BLE001 - any failure of the checks is a Failed deployment
            failure.append(error)

    worker = threading.Thread(target=target, name=f"{log.name}-checks", daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(max(0.0, seconds))
    if worker.is_alive():
        log.line(f"FAIL deadline: the checks did not finish within {seconds:.1f} s; reporting Failed in time")
        return False
    if failure:
        # The type only: an unexpected error's text might carry what the checks handled.
        elapsed = time.monotonic() - started
        log.line(f"FAIL {log.name}: the checks stopped on {type(failure[0]).__name__} after {elapsed:.1f} s")
        return False
    return verdict[0]


def report(codedeploy: Any, hook_event: HookEvent, *, passed: bool, log: Log) -> str:
    """Tell CodeDeploy the verdict; the one call that decides whether the alias moves on."""
    status = SUCCEEDED if passed else FAILED
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=hook_event.deployment_id,
        lifecycleEventHookExecutionId=hook_event.execution_id,
        status=status,
    )
    log.line(f"{log.name}: reported {status} to CodeDeploy for deployment {hook_event.deployment_id}")
    return status


def status_client_config() -> Any:
    """The CodeDeploy client's timeouts: short, two attempts, so the report fits `REPORT_RESERVE_SECONDS`."""
    return Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"})


def run_hook(
    event: Mapping[str, Any],
    context: LambdaContext,
    *,
    log: Log,
    checks: Callable[[float], bool],
    codedeploy: Any | None = None,
) -> dict[str, str]:
    """Run `checks` within the hook's time, report the verdict, and return it (for the invocation's log)."""
    hook_event = HookEvent.from_event(event)
    budget = context.get_remaining_time_in_millis() / 1000 - REPORT_RESERVE_SECONDS
    passed = within_deadline(checks, seconds=budget, log=log)
    if codedeploy is None:
        codedeploy = boto3.client("codedeploy", config=status_client_config())
    status = report(codedeploy, hook_event, passed=passed, log=log)
    return {"status": status}
