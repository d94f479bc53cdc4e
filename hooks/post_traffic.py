"""`AfterAllowTraffic`: the smoke script, through the stage's real gateway URL, once the new version has the traffic.

CodeDeploy invokes this hook after the last traffic shift (AWS, "AppSpec 'hooks' section for
an AWS Lambda deployment"). It runs `smoke.checks.run`, what `python -m smoke` runs, against
`API_URL` (the stage's `ApiUrl`, set at synth), with the smoke user read from Secrets Manager
where `SMOKE_USER_SECRET_ARN` names one. The script goes through the real HTTP API, its JWT
authorizer and its claim rendering: this is the check that can find a wrong fact about AWS.
On `Failed`, CodeDeploy points the alias back at the previous version by itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

from hooks.lifecycle import CheckFailed, LambdaContext, Log, aws_error_code, required_variable, run_hook
from smoke.checks import Options, run
from smoke.user import TestUser

NAME = "post-traffic"
SECRET_VARIABLE = "SMOKE_USER_SECRET_ARN"  # noqa: S105 - the variable's name, not a secret
# The smoke script's own per-request bound (smoke/__main__.py's default).
REQUEST_TIMEOUT_SECONDS = 10.0


def run_checks(seconds: float, *, log: Log, secrets_client: Callable[[], Any]) -> bool:
    """The smoke script's checks within `seconds`, its lines on the hook's log."""
    try:
        base_url = required_variable("API_URL")
        user = None
        if secret_arn := os.environ.get(SECRET_VARIABLE):
            try:
                text = secrets_client().get_secret_value(SecretId=secret_arn)["SecretString"]
            except Exception as error:  # noqa: BLE001 - a missing permission or secret fails the hook
                raise CheckFailed(f"the smoke user's secret could not be read: {aws_error_code(error)}") from None
            try:
                user = TestUser.from_json(text)
            except ValueError as error:
                raise CheckFailed(f"the smoke user's secret {error}") from None
    except CheckFailed as failure:
        log.line(f"FAIL setup: {failure}")
        return False
    options = Options(
        base_url=base_url,
        user=user,
        groups_claim=required_variable("GROUPS_CLAIM"),
        admin_group=required_variable("ADMIN_GROUP"),
        docs=required_variable("DOCS_ENABLED") == "true",
        request_timeout=REQUEST_TIMEOUT_SECONDS,
        # A second before the hook must report: the script's own deadline ends it with a FAIL line first.
        deadline=max(1.0, seconds - 1.0),
    )
    if user is None:
        log.line(f"{NAME}: no smoke user ({SECRET_VARIABLE} unset): the smoke script's unauthenticated checks only")
    return run(options, log.out)


def _secrets_client() -> Any:
    return boto3.client("secretsmanager", config=Config(connect_timeout=5, read_timeout=10))


def handler(event: Mapping[str, Any], context: LambdaContext) -> dict[str, str]:
    """CodeDeploy's `AfterAllowTraffic` hook: smoke-test the stage, report Succeeded or Failed."""
    log = Log(NAME, sys.stdout)
    return run_hook(
        event, context, log=log, checks=lambda seconds: run_checks(seconds, log=log, secrets_client=_secrets_client)
    )
