"""How each run ended, and a waiting approval, reach an SNS topic, its subscribers and Slack."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from tests.pipeline.conftest import PipelineSynth


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
    pipeline_synth.pipeline_template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Principal": {"Service": "codestar-notifications.amazonaws.com"},
                            }
                        )
                    ]
                )
            },
        },
    )
    pipeline_synth.pipeline_template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        # Array order: publishing without TLS is denied first.
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                        Match.object_like(
                            {
                                "Action": "sns:Publish",
                                "Effect": "Allow",
                                "Principal": {"Service": "codestar-notifications.amazonaws.com"},
                            }
                        ),
                    ]
                )
            },
        },
    )


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
