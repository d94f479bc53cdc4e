"""Each environment's standing alarms page the pipeline's notifications topic, unless `alarm_topic_arn` names another.

An alarm may publish to a topic of another account, never of another region: an environment in
the pipeline's region notifies the pipeline's topic, whose policy and key let CloudWatch do so
for that environment's account alone; one in another region notifies its stack's own topic and
forwards the alarms' state changes through EventBridge to the pipeline's event bus, whose rule
publishes them to the topic. Expectations come from the pipeline's context
(tests/pipeline/conftest.py), not from the stack under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ApiConfig, EnvironmentConfig
from infra.constructs.monitoring import ALARM_EVENT_SOURCE, ALARM_STATE_CHANGE, NOTIFIED_STATES
from infra.stacks.pipeline_stack import (
    CLOUDWATCH_PRINCIPAL,
    AlarmDestination,
    alarm_destination,
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


EVENTS_PRINCIPAL = "events.amazonaws.com"


def reaches_the_pipelines_topic(entry: dict[str, Any]) -> bool:
    """What AWS allows: an alarm publishes to a topic in its own region only; the context's topic comes first."""
    return not entry.get("alarm_topic_arn") and (entry.get("region") or PIPELINE_REGION) == PIPELINE_REGION


def forwards_through_eventbridge(entry: dict[str, Any]) -> bool:
    return not entry.get("alarm_topic_arn") and not reaches_the_pipelines_topic(entry)


def the_pipelines_bus(synth: PipelineSynth) -> tuple[str, str]:
    """(logical id, ARN) of the pipeline's alarm event bus, its ARN built from its name as AWS forms it."""
    ((bus_id, bus),) = synth.resources("AWS::Events::EventBus").items()
    return bus_id, f"arn:aws:events:{PIPELINE_REGION}:{PIPELINE_ACCOUNT}:event-bus/{bus['Properties']['Name']}"


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


def test_the_fixture_has_an_environment_of_each_kind() -> None:
    # Else the tests below could pass without looking at one of the two cases.
    assert any(reaches_the_pipelines_topic(entry) for entry in ENVIRONMENTS.values())
    assert any(forwards_through_eventbridge(entry) for entry in ENVIRONMENTS.values())


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
    else:
        (own_topic,) = own_topics
        expected = {"Ref": own_topic}
    for alarm in standing_alarms(stage):
        assert alarm["AlarmActions"] == [expected]
        assert alarm["OKActions"] == [expected]


@pytest.mark.parametrize("name", list(ENVIRONMENTS))
def test_an_environment_in_another_region_forwards_its_alarms_changes_to_the_pipelines_bus(
    pipeline_synth: PipelineSynth, name: str
) -> None:
    stage = pipeline_synth.stages[name]
    forwarding = {k: r["Properties"] for k, r in stage.resources("AWS::Events::Rule").items() if "Monitoring" in k}
    if not forwards_through_eventbridge(ENVIRONMENTS[name]):
        assert not forwarding
        return
    _, bus_arn = the_pipelines_bus(pipeline_synth)
    alarm_ids = [k for k in stage.resources("AWS::CloudWatch::Alarm") if "Monitoring" in k]
    ((rule_id, rule),) = forwarding.items()

    assert len(alarm_ids) == 4
    assert rule["EventPattern"] == {
        "source": [ALARM_EVENT_SOURCE],
        "detail-type": [ALARM_STATE_CHANGE],
        "detail": {"state": {"value": list(NOTIFIED_STATES)}},
        "resources": [{"Fn::GetAtt": [alarm_id, "Arn"]} for alarm_id in alarm_ids],
    }
    ((target),) = rule["Targets"]
    assert target["Arn"] == bus_arn
    # EventBridge sends with a role of the environment's that may put events on that bus alone.
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in stage.resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    assert policy == [{"Action": "events:PutEvents", "Effect": "Allow", "Resource": bus_arn}], rule_id


def test_the_pipelines_bus_admits_the_forwarding_environments_and_publishes_their_changes_to_the_topic(
    pipeline_synth: PipelineSynth,
) -> None:
    topic_id, _ = the_pipelines_topic(pipeline_synth)
    bus_id, _ = the_pipelines_bus(pipeline_synth)
    sources = sorted(
        (entry["account"], entry["region"]) for entry in ENVIRONMENTS.values() if forwards_through_eventbridge(entry)
    )
    admitted = sorted(
        (p["Statement"]["Principal"]["AWS"], p["Statement"]["Condition"]["ArnLike"]["aws:SourceArn"])
        for p in (r["Properties"] for r in pipeline_synth.resources("AWS::Events::EventBusPolicy").values())
        if p["EventBusName"] == {"Ref": bus_id} and p["Statement"]["Action"] == "events:PutEvents"
    )
    assert admitted == [
        (f"arn:aws:iam::{account}:root", f"arn:aws:events:{region}:{account}:rule/*") for account, region in sources
    ]

    (rule,) = [
        r["Properties"]
        for r in pipeline_synth.resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventBusName") == {"Ref": bus_id}
    ]
    assert rule["EventPattern"] == {
        "source": [ALARM_EVENT_SOURCE],
        "detail-type": [ALARM_STATE_CHANGE],
        "detail": {"state": {"value": list(NOTIFIED_STATES)}},
    }
    assert [target["Arn"] for target in rule["Targets"]] == [{"Ref": topic_id}]

    (policy,) = [
        r
        for r in pipeline_synth.resources("AWS::SNS::TopicPolicy").values()
        if r["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    publish = _policy_statement(policy, EVENTS_PRINCIPAL)
    assert (publish["Effect"], publish["Action"], publish["Resource"]) == ("Allow", "sns:Publish", {"Ref": topic_id})
    topic = pipeline_synth.pipeline_json["Resources"][topic_id]["Properties"]
    key = pipeline_synth.pipeline_json["Resources"][topic["KmsMasterKeyId"]["Fn::GetAtt"][0]]
    encrypt = _policy_statement(key, EVENTS_PRINCIPAL)
    assert (encrypt["Effect"], sorted(encrypt["Action"])) == ("Allow", ["kms:Decrypt", "kms:GenerateDataKey*"])


def _policy_statement(resource: dict[str, Any], principal: str) -> dict[str, Any]:
    document = resource["Properties"].get("PolicyDocument") or resource["Properties"]["KeyPolicy"]
    statements: list[dict[str, Any]] = document["Statement"]
    (statement,) = [s for s in statements if principal in _services(s)]
    return statement


def _services(statement: dict[str, Any]) -> list[str]:
    """The service principals a statement names (CDK merges statements alike but for their principals)."""
    principal = statement.get("Principal")
    services = principal.get("Service", []) if isinstance(principal, dict) else []
    return [services] if isinstance(services, str) else list(services)


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
        assert not {CLOUDWATCH_PRINCIPAL, EVENTS_PRINCIPAL} & set(_services(statement))
    assert not synth.resources("AWS::Events::EventBus")


def test_the_laptops_stack_in_the_same_app_keeps_its_own_topic(pipeline_synth: PipelineSynth) -> None:
    template = json.loads((pipeline_synth.assembly_dir / f"{STACK_NAME}.template.json").read_text())
    (own_topic,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    alarms = [r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]

    assert alarms
    assert all(a["AlarmActions"] == a["OKActions"] == [{"Ref": own_topic}] for a in alarms)
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]


def environment(*, region: str | None, account: str | None = None, alarm_topic_arn: str = "") -> EnvironmentConfig:
    api = ApiConfig.from_context({**cdk_json_context(), "alarm_topic_arn": alarm_topic_arn})
    return EnvironmentConfig(name="staging", account=account, region=region, api=api)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"region": None}, AlarmDestination.PIPELINE),
        ({"region": PIPELINE_REGION, "account": "222222222222"}, AlarmDestination.PIPELINE),
        ({"region": "eu-central-1"}, AlarmDestination.FORWARDED),
        ({"region": None, "alarm_topic_arn": OTHER_TOPIC}, AlarmDestination.CONTEXT),
        ({"region": "eu-central-1", "alarm_topic_arn": OTHER_TOPIC}, AlarmDestination.CONTEXT),
    ],
)
def test_alarm_topic_arn_overrides_and_the_region_decides_the_rest(
    settings: dict[str, Any], expected: AlarmDestination
) -> None:
    assert alarm_destination(environment(**settings), pipeline_region=PIPELINE_REGION) is expected
