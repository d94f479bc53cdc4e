"""Each environment's standing alarms page the pipeline's notifications topic where AWS lets them reach it.

An alarm may publish to a topic of another account, never of another region: an environment in
the pipeline's region notifies the pipeline's topic, whose policy and key let CloudWatch do so
for that environment's account alone; one in another region keeps its stack's own topic, and
synth says so; `alarm_topic_arn` overrides both. Expectations come from the pipeline's context
(tests/pipeline/conftest.py), not from the stack under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from infra.config import ApiConfig, EnvironmentConfig
from infra.stacks.pipeline_stack import (
    CLOUDWATCH_PRINCIPAL,
    AlarmDestination,
    alarm_destination,
    own_topic_warning,
)
from tests.infra.conftest import cdk_json_context
from tests.pipeline.conftest import (
    ON_CALL_TOPIC_ARN,
    PIPELINE_ACCOUNT,
    PIPELINE_CONTEXT,
    PIPELINE_REGION,
    PipelineSynth,
    StageSynth,
)
from tests.support import STACK_NAME

ENVIRONMENTS: dict[str, dict[str, Any]] = PIPELINE_CONTEXT["environments"]
OTHER_TOPIC = "arn:aws:sns:eu-central-1:333333333333:orders-oncall"


def reaches_the_pipelines_topic(entry: dict[str, Any]) -> bool:
    """What AWS allows: an alarm publishes to a topic in its own region only; the context's topic comes first."""
    return not entry.get("alarm_topic_arn") and (entry.get("region") or PIPELINE_REGION) == PIPELINE_REGION


def the_pipelines_topic(synth: PipelineSynth) -> tuple[str, str]:
    """(logical id, ARN) of the pipeline's notifications topic, its ARN built from its name as AWS forms it."""
    ((topic_id, topic),) = synth.resources("AWS::SNS::Topic").items()
    return topic_id, f"arn:aws:sns:{PIPELINE_REGION}:{PIPELINE_ACCOUNT}:{topic['Properties']['TopicName']}"


def standing_alarms(stage: StageSynth) -> list[dict[str, Any]]:
    alarms = [
        r["Properties"]
        for logical_id, r in stage.resources("AWS::CloudWatch::Alarm").items()
        if "Monitoring" in logical_id
    ]
    assert len(alarms) == 4
    return alarms


def own_topic_warnings(stage: StageSynth) -> list[Any]:
    return Annotations.from_stack(stage.stage.api_stack).find_warning(
        "*", Match.string_like_regexp("the standing alarms notify the stack's own topic")
    )


def test_the_fixture_has_an_environment_of_each_kind() -> None:
    # Else the tests below could pass without looking at one of the two cases.
    assert {reaches_the_pipelines_topic(entry) for entry in ENVIRONMENTS.values()} == {True, False}


@pytest.mark.parametrize("name", list(ENVIRONMENTS))
def test_each_environments_alarms_notify_the_pipelines_topic_where_its_region_allows(
    pipeline_synth: PipelineSynth, name: str
) -> None:
    stage = pipeline_synth.stages[name]
    own_topics = stage.resources("AWS::SNS::Topic")
    expected: Any
    if reaches_the_pipelines_topic(ENVIRONMENTS[name]):
        _, expected = the_pipelines_topic(pipeline_synth)
        assert not own_topics
        assert stage.template_json["Outputs"]["AlarmTopicArn"]["Value"] == expected
        assert not own_topic_warnings(stage)
    else:
        (own_topic,) = own_topics
        expected = {"Ref": own_topic}
    for alarm in standing_alarms(stage):
        assert alarm["AlarmActions"] == [expected]
        assert alarm["OKActions"] == [expected]


@pytest.mark.parametrize("name", [n for n, entry in ENVIRONMENTS.items() if not reaches_the_pipelines_topic(entry)])
def test_synth_warns_in_one_line_naming_the_key_that_fixes_an_environment_it_cannot_connect(
    pipeline_synth: PipelineSynth, name: str
) -> None:
    (warning,) = own_topic_warnings(pipeline_synth.stages[name])
    message = str(warning.entry.data)
    region = ENVIRONMENTS[name]["region"]

    assert "\n" not in message.strip()
    assert f"environments.{name}.alarm_topic_arn" in message
    assert f"a topic in {region}" in message
    assert PIPELINE_REGION in message


def _policy_statement(resource: dict[str, Any], principal: str) -> dict[str, Any]:
    document = resource["Properties"].get("PolicyDocument") or resource["Properties"]["KeyPolicy"]
    statements: list[dict[str, Any]] = document["Statement"]
    (statement,) = [s for s in statements if s.get("Principal") == {"Service": principal}]
    return statement


def test_only_the_connected_environments_alarms_may_publish_to_the_topic_and_use_its_key(
    pipeline_synth: PipelineSynth,
) -> None:
    topic_id, _ = the_pipelines_topic(pipeline_synth)
    accounts = sorted(
        {
            entry.get("account") or PIPELINE_ACCOUNT
            for entry in ENVIRONMENTS.values()
            if reaches_the_pipelines_topic(entry)
        }
    )
    expected_conditions = {
        "StringEquals": {"aws:SourceAccount": accounts},
        "ArnLike": {"aws:SourceArn": [f"arn:aws:cloudwatch:{PIPELINE_REGION}:{a}:alarm:*" for a in accounts]},
    }
    (policy,) = [
        r
        for r in pipeline_synth.resources("AWS::SNS::TopicPolicy").values()
        if r["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    publish = _policy_statement(policy, CLOUDWATCH_PRINCIPAL)
    assert (publish["Effect"], publish["Action"], publish["Resource"]) == ("Allow", "sns:Publish", {"Ref": topic_id})
    assert publish["Condition"] == expected_conditions

    topic = pipeline_synth.pipeline_json["Resources"][topic_id]["Properties"]
    key = pipeline_synth.pipeline_json["Resources"][topic["KmsMasterKeyId"]["Fn::GetAtt"][0]]
    encrypt = _policy_statement(key, CLOUDWATCH_PRINCIPAL)
    assert (encrypt["Effect"], sorted(encrypt["Action"])) == ("Allow", ["kms:Decrypt", "kms:GenerateDataKey*"])
    assert encrypt["Condition"] == expected_conditions


def test_a_topic_the_context_names_overrides_the_pipelines_which_then_grants_cloudwatch_nothing(
    tightened: tuple[PipelineSynth, str],
) -> None:
    synth, _ = tightened
    topic_id, _ = the_pipelines_topic(synth)
    topic = synth.pipeline_json["Resources"][topic_id]["Properties"]
    key = synth.pipeline_json["Resources"][topic["KmsMasterKeyId"]["Fn::GetAtt"][0]]["Properties"]
    (policy,) = [
        r["Properties"]
        for r in synth.resources("AWS::SNS::TopicPolicy").values()
        if r["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]

    # Both environments are in the pipeline's region: without the override they would page its topic.
    assert synth.stages
    for stage in synth.stages.values():
        assert not stage.resources("AWS::SNS::Topic")
        for alarm in standing_alarms(stage):
            assert alarm["AlarmActions"] == alarm["OKActions"] == [ON_CALL_TOPIC_ARN]
    for statement in (*policy["PolicyDocument"]["Statement"], *key["KeyPolicy"]["Statement"]):
        assert statement.get("Principal") != {"Service": CLOUDWATCH_PRINCIPAL}


def test_the_laptops_stack_in_the_same_app_keeps_its_own_topic(pipeline_synth: PipelineSynth) -> None:
    template = json.loads((pipeline_synth.assembly_dir / f"{STACK_NAME}.template.json").read_text())
    (own_topic,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    alarms = [r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]

    assert alarms
    assert all(a["AlarmActions"] == a["OKActions"] == [{"Ref": own_topic}] for a in alarms)


def environment(*, region: str | None, account: str | None = None, alarm_topic_arn: str = "") -> EnvironmentConfig:
    api = ApiConfig.from_context({**cdk_json_context(), "alarm_topic_arn": alarm_topic_arn})
    return EnvironmentConfig(name="staging", account=account, region=region, api=api)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"region": None}, AlarmDestination.PIPELINE),
        ({"region": PIPELINE_REGION, "account": "222222222222"}, AlarmDestination.PIPELINE),
        ({"region": "eu-central-1"}, AlarmDestination.OWN),
        ({"region": None, "alarm_topic_arn": OTHER_TOPIC}, AlarmDestination.CONTEXT),
        ({"region": "eu-central-1", "alarm_topic_arn": OTHER_TOPIC}, AlarmDestination.CONTEXT),
    ],
)
def test_alarm_topic_arn_overrides_and_the_region_decides_the_rest(
    settings: dict[str, Any], expected: AlarmDestination
) -> None:
    assert alarm_destination(environment(**settings), pipeline_region=PIPELINE_REGION) is expected


def test_the_warning_names_the_environments_own_key() -> None:
    message = own_topic_warning(environment(region="eu-central-1"), pipeline_region=PIPELINE_REGION)

    assert "environments.staging.alarm_topic_arn" in message
    assert "eu-central-1" in message
