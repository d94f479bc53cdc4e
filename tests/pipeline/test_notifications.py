"""How each run ended, and a waiting approval, reach an SNS topic, its subscribers and Slack."""

from __future__ import annotations

from typing import Any

from tests.pipeline.conftest import PipelineSynth

CODESTAR = "codestar-notifications.amazonaws.com"


def only(synth: PipelineSynth, resource_type: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = synth.resources(resource_type).items()
    return logical_id, resource["Properties"]


def test_a_rule_sends_every_runs_outcome_and_pending_approvals_to_the_topic(pipeline_synth: PipelineSynth) -> None:
    topic, _ = only(pipeline_synth, "AWS::SNS::Topic")
    pipeline, _ = only(pipeline_synth, "AWS::CodePipeline::Pipeline")
    _, rule = only(pipeline_synth, "AWS::CodeStarNotifications::NotificationRule")

    assert sorted(rule["EventTypeIds"]) == [
        "codepipeline-pipeline-manual-approval-needed",
        "codepipeline-pipeline-pipeline-execution-canceled",
        "codepipeline-pipeline-pipeline-execution-failed",
        "codepipeline-pipeline-pipeline-execution-succeeded",
    ]
    assert rule["Targets"] == [{"TargetAddress": {"Ref": topic}, "TargetType": "SNS"}]
    assert {"Ref": pipeline} in rule["Resource"]["Fn::Join"][1]
    assert rule["DetailType"] == "FULL"


def test_the_topic_is_encrypted_with_a_key_codestar_notifications_may_use(pipeline_synth: PipelineSynth) -> None:
    topic_id, topic = only(pipeline_synth, "AWS::SNS::Topic")
    key_ids = [
        logical_id
        for logical_id, key in pipeline_synth.resources("AWS::KMS::Key").items()
        if {"Fn::GetAtt": [logical_id, "Arn"]} == topic["KmsMasterKeyId"]
    ]

    assert len(key_ids) == 1
    (key_id,) = key_ids
    key = pipeline_synth.pipeline_json["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert any(
        statement["Effect"] == "Allow"
        and statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
        and CODESTAR in service_principals(statement)
        for statement in key["KeyPolicy"]["Statement"]
    )
    (policy,) = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in pipeline_synth.resources("AWS::SNS::TopicPolicy").values()
        if r["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    # Array order: publishing without TLS is denied first.
    assert (policy[0]["Effect"], policy[0]["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    assert any(
        (statement["Action"], statement["Effect"]) == ("sns:Publish", "Allow")
        and CODESTAR in service_principals(statement)
        for statement in policy[1:]
    )


def service_principals(statement: dict[str, Any]) -> list[str]:
    """The service principals a statement names: one, or several where CDK merged statements alike but for them."""
    principal = statement.get("Principal")
    services = principal.get("Service", []) if isinstance(principal, dict) else []
    return [services] if isinstance(services, str) else list(services)


def test_the_configured_addresses_are_subscribed(pipeline_synth: PipelineSynth) -> None:
    topic, _ = only(pipeline_synth, "AWS::SNS::Topic")
    subscriptions = [r["Properties"] for r in pipeline_synth.resources("AWS::SNS::Subscription").values()]

    assert sorted((s["Protocol"], s["Endpoint"], s["TopicArn"]["Ref"]) for s in subscriptions) == [
        ("email", "oncall@example.com", topic),
        ("email", "ops@example.com", topic),
    ]


def test_slack_gets_the_topic_and_nothing_else(pipeline_synth: PipelineSynth) -> None:
    topic, _ = only(pipeline_synth, "AWS::SNS::Topic")
    _, slack = only(pipeline_synth, "AWS::Chatbot::SlackChannelConfiguration")

    assert (slack["SlackWorkspaceId"], slack["SlackChannelId"]) == ("T0123ABCD", "C0456EFGH")
    assert slack["SnsTopicArns"] == [{"Ref": topic}]
    # The guardrail caps what anyone could run from the channel: nothing.
    assert slack["GuardrailPolicies"][0]["Fn::Join"][1][-1] == ":iam::aws:policy/AWSDenyAll"
    role = pipeline_synth.pipeline_json["Resources"][slack["IamRoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert "Policies" not in role
    assert "ManagedPolicyArns" not in role


def test_the_stack_prints_the_pipeline_and_the_topic(pipeline_synth: PipelineSynth) -> None:
    topic, _ = only(pipeline_synth, "AWS::SNS::Topic")
    pipeline, _ = only(pipeline_synth, "AWS::CodePipeline::Pipeline")
    outputs = pipeline_synth.pipeline_json["Outputs"]

    assert outputs["PipelineName"]["Value"] == {"Ref": pipeline}
    assert outputs["NotificationsTopicArn"]["Value"] == {"Ref": topic}
