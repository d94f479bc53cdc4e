"""cdk-nag's AwsSolutions checks run on the app and find nothing unacknowledged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_iam as iam

from infra.constructs.lambda_api import LambdaApi
from infra.nag import add_nag_checks
from tests.infra.conftest import Synthesized, synthesize
from tests.support import STACK_NAME


def nag_violations(assembly_dir: Path) -> list[dict[str, Any]]:
    """AwsSolutions' findings in a synth's validation report (a clean plugin reports nothing)."""
    report = json.loads((assembly_dir / "validation-report.json").read_text())
    return [v for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions" for v in p["violations"]]


def acknowledgements(synth: Synthesized) -> dict[str, dict[str, str]]:
    """Rule id -> {construct path: reason}, as recorded on the construct tree."""
    found: dict[str, dict[str, str]] = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in entry.data.items():
                    found.setdefault(rule.removeprefix("Annotation::"), {})[construct.node.path] = reason
    return found


def test_every_configuration_synthesizes_with_nothing_unacknowledged(
    default_synth: Synthesized, custom_synth: Synthesized, host_synth: Synthesized
) -> None:
    # A finding nobody acknowledged fails synth, so reaching here is most of the proof.
    for synth in (default_synth, custom_synth, host_synth):
        assert nag_violations(synth.assembly_dir) == []


def test_the_app_runs_the_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the construct's acknowledgements, the very same app must fail on the public routes.
    monkeypatch.setattr(LambdaApi, "_acknowledge_design_choices", lambda self: None)

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synthesize(tmp_path)
    rules = {v["ruleName"] for v in nag_violations(tmp_path)}
    assert {"AwsSolutions-APIG4", "AwsSolutions-IAM5[Resource::*]"} <= rules


def test_public_routes_and_only_they_acknowledge_missing_authorization(default_synth: Synthesized) -> None:
    api = default_synth.stack.api
    public = {f"{api.routes[r.key].node.path}": r.key for r in api.gateway_routes if not r.authorized}

    acknowledged = acknowledgements(default_synth)["AwsSolutions-APIG4"]

    assert acknowledged.keys() == public.keys()
    for path, reason in acknowledged.items():
        assert public[path] in reason  # each reason names its route


def test_the_wildcard_acknowledgement_covers_only_the_tracing_policy(default_synth: Synthesized) -> None:
    acknowledged = acknowledgements(default_synth)["AwsSolutions-IAM5[Resource::*]"]
    statements = default_synth.only("AWS::IAM::Policy")["Properties"]["PolicyDocument"]["Statement"]

    assert list(acknowledged) == [f"{STACK_NAME}/Api/FunctionRole/DefaultPolicy"]
    assert [s["Action"] for s in statements if s["Resource"] == "*"] == [
        ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    ]


def test_an_older_runtime_is_acknowledged_as_the_context_choice_it_is(
    default_synth: Synthesized, host_synth: Synthesized
) -> None:
    assert "AwsSolutions-L1" not in acknowledgements(default_synth)
    if host_synth.stack.api.runtime.name != "python3.14":
        (reason,) = acknowledgements(host_synth)["AwsSolutions-L1"].values()
        assert "`runtime` context key" in reason


def test_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    add_nag_checks(app)

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert "AwsSolutions-IAM5[Action::s3:*]" in {v["ruleName"] for v in nag_violations(tmp_path)}
