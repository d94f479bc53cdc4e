"""cdk-nag finds nothing unacknowledged in what the pipeline adds, and CloudFormation's linter no error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Validations
from constructs import IConstruct

from infra.constructs.lambda_api import LambdaApi
from infra.stacks.pipeline_stack import PipelineStack
from tests.infra.conftest import cdk_json_context
from tests.infra.test_cli_synth import cfn_lint
from tests.infra.test_nag import nag_violations
from tests.pipeline.conftest import PIPELINE_CONTEXT, PipelineSynth, synthesize
from tests.support import PIPELINE_STACK_NAME, STACK_NAME


def acknowledgements(root: IConstruct) -> dict[str, dict[str, str]]:
    """Rule id -> {construct path: reason}, as recorded on the construct tree under `root`."""
    found: dict[str, dict[str, str]] = {}
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in entry.data.items():
                    found.setdefault(rule.removeprefix("Annotation::"), {})[construct.node.path] = reason
    return found


def pipeline_acknowledgements(synth: PipelineSynth) -> dict[str, dict[str, str]]:
    """The acknowledgements in the pipeline stack and its support stacks, not in the API stacks."""
    api_stacks = [f"{stack.node.path}/" for stack in (synth.stacks.api, *(s.stage for s in synth.stages.values()))]
    found = acknowledgements(synth.stacks.api.node.root)
    return {
        rule: {path: reason for path, reason in reasons.items() if not path.startswith(tuple(api_stacks))}
        for rule, reasons in found.items()
    }


def test_the_pipeline_its_environments_and_their_support_stacks_have_nothing_unacknowledged(
    pipeline_synth: PipelineSynth,
) -> None:
    manifest = json.loads((pipeline_synth.assembly_dir / "manifest.json").read_text())

    # Production is in another region than the pipeline: CDK adds a support stack there.
    assert any(name.startswith("cross-region-stack-") for name in manifest["artifacts"])
    assert nag_violations(pipeline_synth.assembly_dir) == []


def test_the_checks_cover_the_pipeline_and_each_environments_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the acknowledgements, the same app must fail on the pipeline and on both environments.
    monkeypatch.setattr(PipelineStack, "_acknowledge_design_choices", lambda self: None)
    monkeypatch.setattr(LambdaApi, "_acknowledge_design_choices", lambda self: None)

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synthesize(tmp_path, {**cdk_json_context(), **PIPELINE_CONTEXT})
    flagged = {
        (violation["ruleName"], construct["constructPath"].split("/")[1])
        for violation in nag_violations(tmp_path)
        for construct in violation["violatingConstructs"]
        if construct["constructPath"].startswith(f"{PIPELINE_STACK_NAME}/")
    }
    assert ("AwsSolutions-S1", "Pipeline") in flagged
    assert ("AwsSolutions-APIG4", "staging") in flagged
    assert ("AwsSolutions-APIG4", "production") in flagged


def test_every_acknowledgement_says_why(pipeline_synth: PipelineSynth) -> None:
    found = pipeline_acknowledgements(pipeline_synth)

    assert found
    for rule, reasons in found.items():
        for path, reason in reasons.items():
            assert len(reason) > 60, f"{rule} at {path}: {reason!r}"


def test_wildcard_resources_are_acknowledged_only_on_the_roles_cdk_pipelines_builds_so(
    pipeline_synth: PipelineSynth,
) -> None:
    pipeline = pipeline_synth.stacks.pipeline
    assert pipeline is not None

    found = pipeline_acknowledgements(pipeline_synth)

    assert sorted(found["AwsSolutions-IAM5[Resource::*]"]) == [
        f"{PIPELINE_STACK_NAME}/Pipeline/Assets/FileRole",
        f"{PIPELINE_STACK_NAME}/Pipeline/Pipeline/Role",  # only because of the cross-region replica
        f"{PIPELINE_STACK_NAME}/Pipeline/UpdatePipeline/SelfMutation",
    ]
    assert set(found["AwsSolutions-S1"]) == {
        f"{PIPELINE_STACK_NAME}/Pipeline/Pipeline/ArtifactsBucket",
        f"cross-region-stack-{pipeline.account}:eu-central-1/Default/CrossRegionCodePipelineReplicationBucket",
    }


def test_the_canary_role_uses_codedeploys_managed_policy_knowingly(pipeline_synth: PipelineSynth) -> None:
    for name, stage in pipeline_synth.stages.items():
        found = acknowledgements(stage.stage.api_stack)
        (rule,) = [rule for rule in found if rule.startswith("AwsSolutions-IAM4")]
        assert rule.endswith("service-role/AWSCodeDeployRoleForLambdaLimited]")
        assert list(found[rule]) == [f"{PIPELINE_STACK_NAME}/{name}/{STACK_NAME}/Rollout/DeploymentGroup/ServiceRole"]


def lint_errors(*templates: Path) -> list[dict[str, Any]]:
    findings = cfn_lint(*templates)
    return [
        finding
        for finding in findings
        if finding["Level"] == "Error"
        # cfn-lint 1.58 checks a CloudFormation action's RoleArn against its ARN format and, meeting
        # CDK Pipelines' Fn::Join of "arn:" and the partition, answers with its "prefer Fn::Sub" style
        # hint as an error; CloudFormation accepts the join.
        and not (
            finding["Rule"]["Id"] == "E3703"
            and finding["Message"] == "Prefer using Fn::Sub over Fn::Join with an empty delimiter"
            and finding["Location"]["Path"][-2:] == ["Configuration", "RoleArn"]
        )
    ]


def test_cfn_lint_finds_no_errors_in_the_pipeline_or_the_environments(pipeline_synth: PipelineSynth) -> None:
    out = pipeline_synth.assembly_dir
    templates = [
        out / f"{PIPELINE_STACK_NAME}.template.json",
        *out.glob("cross-region-stack-*.template.json"),
        *out.glob(f"assembly-{PIPELINE_STACK_NAME}-*/*.template.json"),
    ]

    assert len(templates) == 4
    errors = lint_errors(*templates)
    assert errors == [], json.dumps(errors, indent=2)
