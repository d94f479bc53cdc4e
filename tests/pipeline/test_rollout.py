"""Each environment's new version reaches its alias as a canary, rolled back when an alarm fires."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import CfnElement
from aws_cdk.assertions import Match

from infra.constructs.lambda_api import HANDLER
from tests.infra.conftest import cdk_json_context
from tests.pipeline.conftest import PipelineSynth, StageSynth
from tests.support import STACK_NAME

ENVIRONMENTS = ("staging", "production")


def ref(stage: StageSynth, resource_type: str) -> dict[str, str]:
    (logical_id,) = stage.resources(resource_type)
    return {"Ref": logical_id}


def rollout_alarm_ids(stage: StageSynth) -> set[str]:
    """The canary's alarms (the stage's standing alarms watch some of the same metrics)."""
    stack = stage.stage.api_stack
    assert stack.rollout is not None
    ids = set()
    for alarm in stack.rollout.alarms:
        resource = alarm.node.default_child
        assert isinstance(resource, CfnElement)
        ids.add(stack.resolve(stack.get_logical_id(resource)))
    return ids


def alarm(stage: StageSynth, metric_name: str) -> tuple[str, dict[str, Any]]:
    """The canary's alarm on `metric_name`, directly or inside its metric math."""
    rollout = rollout_alarm_ids(stage)
    for logical_id, resource in stage.resources("AWS::CloudWatch::Alarm").items():
        if logical_id not in rollout:
            continue
        properties = resource["Properties"]
        names = {properties.get("MetricName")} | {
            query["MetricStat"]["Metric"]["MetricName"]
            for query in properties.get("Metrics", [])
            if "MetricStat" in query
        }
        if metric_name in names:
            return logical_id, properties
    raise AssertionError(f"no alarm on {metric_name}")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_alias_shifts_ten_percent_for_five_minutes_then_the_rest(
    pipeline_synth: PipelineSynth, environment: str
) -> None:
    stage = pipeline_synth.stages[environment]
    group = stage.only("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    alias = stage.only("AWS::Lambda::Alias")

    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["DeploymentStyle"] == {"DeploymentOption": "WITH_TRAFFIC_CONTROL", "DeploymentType": "BLUE_GREEN"}
    # CloudFormation hands the alias's update to this deployment group.
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"] == ref(
        stage, "AWS::CodeDeploy::DeploymentGroup"
    )
    assert alias["Properties"]["Name"] == "live"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_an_alarm_stops_the_deployment_and_rolls_it_back(pipeline_synth: PipelineSynth, environment: str) -> None:
    stage = pipeline_synth.stages[environment]
    group = stage.only("AWS::CodeDeploy::DeploymentGroup")["Properties"]
    alarms = [{"Name": {"Ref": alarm(stage, metric)[0]}} for metric in ("Errors", "Throttles", "5xx")]

    assert group["AlarmConfiguration"] == {"Alarms": alarms, "Enabled": True}
    assert group["AutoRollbackConfiguration"] == {
        "Enabled": True,
        "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST", "DEPLOYMENT_STOP_ON_ALARM"],
    }


def alias_dimensions(stage: StageSynth) -> list[dict[str, Any]]:
    # The service's function: the stack's other functions are the deployment hooks (test_hooks.py).
    (service,) = [
        logical_id
        for logical_id, function in stage.resources("AWS::Lambda::Function").items()
        if function["Properties"]["Handler"] == HANDLER
    ]
    function = {"Ref": service}
    return [
        {"Name": "FunctionName", "Value": function},
        {"Name": "Resource", "Value": {"Fn::Join": ["", [function, ":live"]]}},
    ]


def test_the_function_alarms_watch_the_alias_the_api_invokes(pipeline_synth: PipelineSynth) -> None:
    stage = pipeline_synth.stages["production"]

    _, errors = alarm(stage, "Errors")
    assert errors["Namespace"] == "AWS/Lambda"
    assert errors["Dimensions"] == alias_dimensions(stage)
    assert (errors["Period"], errors["Statistic"], errors["Threshold"]) == (60, "Sum", 1)
    assert errors["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"

    _, throttles = alarm(stage, "Throttles")
    queries = {query["Id"]: query for query in throttles["Metrics"]}
    for name, metric in (("throttles", "Throttles"), ("invocations", "Invocations")):
        assert queries[name]["MetricStat"] == {
            "Metric": {"Dimensions": alias_dimensions(stage), "MetricName": metric, "Namespace": "AWS/Lambda"},
            "Period": 60,
            "Stat": "Sum",
        }


def test_a_burst_of_throttles_from_the_reserved_concurrency_does_not_undo_a_deployment(
    pipeline_synth: PipelineSynth,
) -> None:
    # Reserved concurrency refuses invocations by design once a flood fills it: only a steady
    # share of refused invocations, minutes long, says the version cannot keep up.
    _, throttles = alarm(pipeline_synth.stages["production"], "Throttles")
    (expression,) = [query for query in throttles["Metrics"] if "Expression" in query]

    assert expression["Expression"] == "100 * throttles / (throttles + invocations)"
    assert (throttles["Threshold"], throttles["EvaluationPeriods"], throttles["DatapointsToAlarm"]) == (1, 3, 2)
    assert throttles["ComparisonOperator"] == "GreaterThanThreshold"
    assert throttles["TreatMissingData"] == "notBreaching"


def test_the_api_alarm_is_on_the_share_of_5xx_answers_at_the_stage(pipeline_synth: PipelineSynth) -> None:
    stage = pipeline_synth.stages["production"]
    dimensions = [{"Name": "ApiId", "Value": ref(stage, "AWS::ApiGatewayV2::Api")}, {"Name": "Stage", "Value": "prod"}]

    def query(name: str, metric: str, stat: str) -> dict[str, Any]:
        return {
            "Id": name,
            "MetricStat": {
                "Metric": {"Dimensions": dimensions, "MetricName": metric, "Namespace": "AWS/ApiGateway"},
                "Period": 60,
                "Stat": stat,
            },
            "ReturnData": False,
        }

    stage.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Metrics": [
                Match.object_like({"Expression": "100 * errors / requests", "ReturnData": True}),
                query("errors", "5xx", "Sum"),
                query("requests", "Count", "SampleCount"),
            ],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 5,
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2,
            "TreatMissingData": "notBreaching",
        },
    )


def test_a_laptop_deploy_goes_all_at_once_as_cdk_json_says(no_pipeline_synth: PipelineSynth) -> None:
    template = json.loads((no_pipeline_synth.assembly_dir / f"{STACK_NAME}.template.json").read_text())
    types = {resource["Type"] for resource in template["Resources"].values()}
    (alias,) = [resource for resource in template["Resources"].values() if resource["Type"] == "AWS::Lambda::Alias"]

    assert cdk_json_context()["canary"] is False
    assert no_pipeline_synth.stacks.api.rollout is None
    assert not {t for t in types if t.startswith("AWS::CodeDeploy::")}
    # Only the standing alarms (infra/constructs/monitoring.py), none of a canary's.
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == len(no_pipeline_synth.stacks.api.monitoring.alarms)
    assert "UpdatePolicy" not in alias


def test_the_stack_names_its_deployment_group_for_a_rollback_by_hand(pipeline_synth: PipelineSynth) -> None:
    stage = pipeline_synth.stages["production"]
    outputs = stage.template_json["Outputs"]

    assert outputs["DeploymentGroupName"]["Value"] == ref(stage, "AWS::CodeDeploy::DeploymentGroup")
    assert outputs["DeploymentApplication"]["Value"] == ref(stage, "AWS::CodeDeploy::Application")
