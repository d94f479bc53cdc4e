"""The delivery pipeline: every push to the branch is tested, synthesized and rolled out, environment by environment.

CDK Pipelines builds it: the source is the GitHub repository through a CodeStar connection;
the synth step installs from the lock files, runs `make test` and synthesizes this very app;
the pipeline then updates itself (self-mutation), publishes the function's bundle, and deploys
each environment's `ApiStage` in order, a person approving first where the environment asks
for it, and smoke-testing each deployed API (smoke/) before the next environment. Runs, failures and pending
approvals are announced on an SNS topic, and in Slack through AWS Chatbot when configured. The
standing alarms of each environment page the same topic (`alarm_destination`): directly in the
pipeline's region, through EventBridge from another.
"""

from __future__ import annotations

import shlex
from enum import StrEnum
from pathlib import Path
from typing import Any

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    CfnOutput,
    Environment,
    Stack,
    Validations,
    pipelines,
    region_info,
)
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codestarnotifications as notifications
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct, IConstruct

from infra.checkov import skip_check
from infra.config import BuildConfig, EnvironmentConfig, PipelineConfig
from infra.constructs.monitoring import alarm_state_changes
from infra.stages import ApiStage

# CodeBuild's Ubuntu 24.04 image: its `runtime-versions` offer Python 3.10 to 3.14 (and pyenv
# installs any other on demand), so the synth step runs exactly the functions' Python.
SYNTH_IMAGE = codebuild.LinuxBuildImage.STANDARD_8_0
# The pipeline's synth refuses a bundle without bytecode (infra/bytecode.py).
REQUIRE_BYTECODE = "require_bytecode=true"
# `make test` synthesizes the app several times and starts emulators and a browser.
SYNTH_COMPUTE = codebuild.ComputeType.MEDIUM

# What the notification rule reports: how each run ended, and that an approval waits.
NOTIFIED_EVENTS = (
    "codepipeline-pipeline-pipeline-execution-succeeded",
    "codepipeline-pipeline-pipeline-execution-failed",
    "codepipeline-pipeline-pipeline-execution-canceled",
    "codepipeline-pipeline-manual-approval-needed",
)

# The read/write grants CDK gives every pipeline role on the artifact bucket and its key.
ARTIFACT_ACTION_WILDCARDS = (
    "s3:Abort*",
    "s3:DeleteObject*",
    "s3:GetBucket*",
    "s3:GetObject*",
    "s3:List*",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)

# How long an overwritten or deleted artifact's old version is kept, in days.
ARTIFACT_VERSION_DAYS = 30

# The smoke test after each deployment reads its test user from this variable (smoke/__main__.py).
SMOKE_USER_VARIABLE = "SMOKE_USER"
# What the smoke step installs: the script's own requirements, at the versions the lock pins.
SMOKE_INSTALL = (
    "python3 -m pip install --quiet --disable-pip-version-check -r smoke/requirements.txt -c constraints.txt"
)


# CloudWatch alarms publish to SNS as this service principal (docs/aws-facts.md, row "Alarm actions to SNS").
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"


class AlarmDestination(StrEnum):
    """Where an environment's standing alarms notify."""

    CONTEXT = "the topic its alarm_topic_arn names"
    PIPELINE = "the pipeline's notifications topic"
    FORWARDED = "its stack's own topic, and through EventBridge the pipeline's"


def alarm_destination(environment: EnvironmentConfig, *, pipeline_region: str) -> AlarmDestination:
    """The topic an environment's standing alarms page: the context's, else the pipeline's.

    An alarm may publish to a topic of another account, but only to one in its own region
    (docs/aws-facts.md, row "Alarm actions to SNS"): an environment in another region than the
    pipeline notifies its stack's own topic, and a rule there forwards the alarms' state changes
    to the pipeline's event bus, whose rule publishes them to the topic.
    """
    if environment.api.alarm_topic_arn:
        return AlarmDestination.CONTEXT
    if (environment.region or pipeline_region) == pipeline_region:
        return AlarmDestination.PIPELINE
    return AlarmDestination.FORWARDED


def notifications_topic_name(stack_name: str) -> str:
    """The notifications topic's name: fixed, so the environments' stacks can name its ARN."""
    return f"{stack_name}-notifications"


def alarm_event_bus_name(stack_name: str) -> str:
    """The event bus the other regions' alarm changes reach: fixed, so their stacks can name its ARN."""
    return f"{stack_name}-alarms"


def smoke_command(*, groups_claim: str, docs: bool) -> str:
    """The shell line that smoke-tests the API at $API_URL as this environment configures it."""
    docs_option = "--docs" if docs else "--no-docs"
    return f'python3 -m smoke --base-url "$API_URL" --groups-claim {shlex.quote(groups_claim)} {docs_option}'


class PipelineStack(Stack):
    """A self-updating CodePipeline deploying the API stack to each configured environment in turn."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        synth_context: dict[str, str],
        cli_version: str,
        api_stack_id: str,
        api_description: str,
        service_dir: Path,
        bundle_cache_dir: Path,
        build: BuildConfig,
        **stack_options: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_options)
        self.source = pipelines.CodePipelineSource.connection(
            config.github_repository, config.github_branch, connection_arn=config.codestar_connection_arn
        )
        # Pipeline keys given with -c when the pipeline was deployed (app.py passes those cdk.json
        # does not hold): without them its own synth would leave itself out, and self-mutation
        # would find no stack to update.
        context_args = " ".join(f"-c {shlex.quote(f'{key}={value}')}" for key, value in synth_context.items())
        self.synth = pipelines.CodeBuildStep(
            "Synth",
            input=self.source,
            build_environment=codebuild.BuildEnvironment(build_image=SYNTH_IMAGE, compute_type=SYNTH_COMPUTE),
            # The functions' Python, installed by the image: it runs the venv, and so the synth
            # compiles the bundle's bytecode with it (python3.X on PATH would do as well).
            partial_build_spec=codebuild.BuildSpec.from_object(
                {"phases": {"install": {"runtime-versions": {"python": config.python_version}}}}
            ),
            install_commands=["python3 --version", f"python{config.python_version} --version", "make install"],
            commands=[
                "bash .ci/run",
                # A bundle without bytecode would slow every cold start: here it fails the build instead.
                f"PATH=$PWD/.venv/bin:$PATH CDK_DISABLE_VERSION_CHECK=1 node_modules/.bin/cdk synth --no-notices "
                f"-c {REQUIRE_BYTECODE} {context_args}".rstrip(),
            ],
            primary_output_directory="cdk.out",
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            synth=self.synth,
            self_mutation=True,
            cli_version=cli_version,
            # A KMS key for the artifacts, so environments in other accounts can read them.
            cross_account_keys=True,
            enable_key_rotation=True,
        )

        # The environments' stacks live in other stages (and accounts), which no CDK reference reaches:
        # they name the topic by its ARN, from its fixed name.
        partition = config.partition
        topic_name = notifications_topic_name(self.stack_name)
        self.notifications_topic_arn = f"arn:{partition}:sns:{config.region}:{config.account}:{topic_name}"
        bus_name = alarm_event_bus_name(self.stack_name)
        self.alarm_event_bus_arn = f"arn:{partition}:events:{config.region}:{config.account}:event-bus/{bus_name}"
        self.alarm_destinations: dict[str, AlarmDestination] = {}
        self.stages: list[ApiStage] = []
        for environment in config.environments:
            destination = alarm_destination(environment, pipeline_region=config.region)
            self.alarm_destinations[environment.name] = destination
            api_config = environment.api
            if destination is AlarmDestination.PIPELINE:
                api_config = api_config.model_copy(update={"alarm_topic_arn": self.notifications_topic_arn})
            stage = ApiStage(
                self,
                environment.name,
                config=api_config,
                stack_id=api_stack_id,
                description=api_description,
                service_dir=service_dir,
                bundle_cache_dir=bundle_cache_dir,
                build=build,
                # The deployment hooks sign in as the smoke step's test user, from a secret they can read.
                smoke_user_secret_arn=environment.hooks_user_secret_arn,
                alarm_event_bus_arn=self.alarm_event_bus_arn if destination is AlarmDestination.FORWARDED else None,
                env=Environment(
                    account=environment.account or config.account, region=environment.region or config.region
                ),
            )
            approval = pipelines.ManualApprovalStep(
                "Approve",
                comment=f"Promote the build that passed the earlier environments to {environment.name}.",
            )
            smoke_test = self._smoke_test(stage, environment, python_version=config.python_version)
            self.pipeline.add_stage(stage, pre=[approval] if environment.manual_approval else None, post=[smoke_test])
            self.stages.append(stage)

        # Only now does the CodePipeline exist, for the notifications to watch.
        self.pipeline.build_pipeline()
        self.notifications_topic = self._notifications_topic(config.notification_emails, topic_name=topic_name)
        self._let_alarms_publish(
            sorted(
                {
                    environment.account or config.account
                    for environment in config.environments
                    if self.alarm_destinations[environment.name] is AlarmDestination.PIPELINE
                }
            ),
            region=config.region,
            partition=partition,
        )
        self.alarm_event_bus: events.EventBus | None = None
        forwarded = sorted(
            {
                (environment.account or config.account, environment.region or config.region)
                for environment in config.environments
                if self.alarm_destinations[environment.name] is AlarmDestination.FORWARDED
            }
        )
        if forwarded:
            self.alarm_event_bus = self._receive_forwarded_alarms(forwarded, bus_name=bus_name, partition=partition)
        self.notification_rule = notifications.NotificationRule(
            self,
            "PipelineNotifications",
            source=self.pipeline.pipeline,
            events=list(NOTIFIED_EVENTS),
            targets=[self.notifications_topic],
            detail_type=notifications.DetailType.FULL,
        )
        CfnOutput(self, "PipelineName", value=self.pipeline.pipeline.pipeline_name)
        CfnOutput(self, "NotificationsTopicArn", value=self.notifications_topic.topic_arn)

        self.slack: chatbot.SlackChannelConfiguration | None = None
        if config.slack_channel is not None:
            workspace_id, channel_id = config.slack_channel
            self.slack = chatbot.SlackChannelConfiguration(
                self,
                "Slack",
                # A physical name Chatbot requires, unique in the account: the stack's name is.
                slack_channel_configuration_name=self.stack_name,
                slack_workspace_id=workspace_id,
                slack_channel_id=channel_id,
                notification_topics=[self.notifications_topic],
                # The channel only shows notifications: nobody runs AWS commands from it.
                guardrail_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AWSDenyAll")],
            )

        self._keep_artifact_versions()
        self._acknowledge_design_choices()
        self._acknowledge_checkov_findings()

    def _smoke_test(
        self, stage: ApiStage, environment: EnvironmentConfig, *, python_version: str
    ) -> pipelines.CodeBuildStep:
        """`python -m smoke` against the stage's API, from the same commit: a failure stops the pipeline here.

        The test user's credentials come from the environment's secret, which CodeBuild reads
        into SMOKE_USER itself (and masks in the build's log); the step's role may read that
        one secret and no other. Without a secret, the script runs its unauthenticated checks only.
        """
        secret_arn = environment.smoke_user_secret_arn
        build_spec: dict[str, Any] = {"phases": {"install": {"runtime-versions": {"python": python_version}}}}
        statements: list[iam.PolicyStatement] = []
        if secret_arn is not None:
            # In the buildspec rather than as a SECRETS_MANAGER variable of the project: for those
            # CDK grants the ARN followed by a wildcard, and this role reads this one secret only.
            build_spec["env"] = {"secrets-manager": {SMOKE_USER_VARIABLE: secret_arn}}
            statements.append(iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret_arn]))
        return pipelines.CodeBuildStep(
            "SmokeTest",
            input=self.source,
            env_from_cfn_outputs={"API_URL": stage.api_stack.api_url_output},
            build_environment=codebuild.BuildEnvironment(build_image=SYNTH_IMAGE),
            partial_build_spec=codebuild.BuildSpec.from_object(build_spec),
            install_commands=[SMOKE_INSTALL],
            commands=[smoke_command(groups_claim=environment.api.jwt_groups_claim, docs=environment.api.docs_enabled)],
            role_policy_statements=statements,
        )

    def _keep_artifact_versions(self) -> None:
        """Versioning on the artifact bucket and its replicas: an overwritten or deleted artifact can be had back.

        Old versions expire after a month, so the buckets do not grow with every run.
        """
        pipeline = self.pipeline.pipeline
        buckets = [pipeline.artifact_bucket, *(s.replication_bucket for s in pipeline.cross_region_support.values())]
        for bucket in buckets:
            resource = _default_child(bucket)
            assert isinstance(resource, s3.CfnBucket)
            resource.versioning_configuration = s3.CfnBucket.VersioningConfigurationProperty(status="Enabled")
            resource.lifecycle_configuration = s3.CfnBucket.LifecycleConfigurationProperty(
                rules=[
                    s3.CfnBucket.RuleProperty(
                        id="ExpireOldArtifactVersions",
                        status="Enabled",
                        noncurrent_version_expiration=s3.CfnBucket.NoncurrentVersionExpirationProperty(
                            noncurrent_days=ARTIFACT_VERSION_DAYS
                        ),
                    )
                ]
            )

    def _acknowledge_checkov_findings(self) -> None:
        """What CDK Pipelines builds that checkov flags and cannot be met here, each acknowledged with the reason."""
        pipeline = self.pipeline.pipeline
        skip_check(
            pipeline.artifact_bucket,
            "CKV_AWS_18",
            "The artifact bucket holds only this pipeline's source and cloud assemblies, written and read by the "
            "pipeline's own roles under its KMS key; CloudTrail data events audit it if needed, where an access-log "
            "bucket would be one more unlogged bucket.",
        )
        for region, support in pipeline.cross_region_support.items():
            skip_check(
                support.replication_bucket,
                "CKV_AWS_18",
                f"CDK's replica of the artifact bucket in {region}: it holds copies of this pipeline's artifacts "
                "only, written by the pipeline's role; an access-log bucket would be one more unlogged bucket.",
            )
        assets_policy = (
            self.pipeline.node.find_child("Assets").node.find_child("FileRole").node.find_child("DefaultPolicy")
        )
        skip_check(
            assets_policy,
            "CKV_AWS_111",
            "One role serves every asset-publishing CodeBuild project CDK Pipelines creates, one per asset and "
            "created as assets appear, so codebuild:StartBuild and StopBuild name no project; it assumes only the "
            "bootstrap's file-publishing role.",
        )
        if pipeline.cross_region_support:
            skip_check(
                pipeline.role.node.find_child("DefaultPolicy"),
                "CKV_AWS_111",
                "The replica buckets' keys live in other regions' support stacks, which CDK can name only by an "
                "alias there, so the pipeline role's KMS encrypt statement names no key; each key's own policy "
                "still has to let this account use it.",
            )

    def _notifications_topic(self, emails: tuple[str, ...], *, topic_name: str) -> sns.Topic:
        """An encrypted topic that CodeStar Notifications may publish to."""
        self.notifications_key = key = kms.Key(
            self,
            "NotificationsKey",
            description="Encrypts the pipeline's notifications topic.",
            enable_key_rotation=True,
        )
        # CodeStar Notifications must encrypt what it publishes; AWS's own SNS key cannot grant it that.
        key.grant(iam.ServicePrincipal("codestar-notifications.amazonaws.com"), "kms:GenerateDataKey*", "kms:Decrypt")
        topic = sns.Topic(
            self,
            "Notifications",
            topic_name=topic_name,
            display_name="FastAPI pipeline",
            master_key=key,
            enforce_ssl=True,
        )
        for email in emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic

    def _let_alarms_publish(self, accounts: list[str], *, region: str, partition: str) -> None:
        """The standing alarms of these accounts, in the pipeline's region, may publish to the notifications topic.

        CloudWatch publishes as its service principal: the topic's policy allows it and the key's
        lets it encrypt, both only on behalf of those accounts' alarms in this region, as AWS
        advises against the confused deputy.
        docs/aws-facts.md, rows "Alarm actions to SNS" and "Encrypted topic for AWS services".
        """
        if not accounts:
            return
        principal = iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)
        conditions = {
            "StringEquals": {"aws:SourceAccount": accounts},
            "ArnLike": {
                "aws:SourceArn": [f"arn:{partition}:cloudwatch:{region}:{account}:alarm:*" for account in accounts]
            },
        }
        self.notifications_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StandingAlarmsPublish",
                principals=[principal],
                actions=["sns:Publish"],
                resources=[self.notifications_topic.topic_arn],
                conditions=conditions,
            )
        )
        self.notifications_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StandingAlarmsEncrypt",
                principals=[principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=conditions,
            )
        )

    def _receive_forwarded_alarms(
        self, sources: list[tuple[str, str]], *, bus_name: str, partition: str
    ) -> events.EventBus:
        """An event bus the (account, region) `sources` may put their alarms' changes on, and a rule to the topic.

        Each source's rule sends the changes of its stack's standing alarms here (`ApiMonitoring`);
        the bus admits each account's rules of its region only, and this rule publishes the
        changes into ALARM or OK to the notifications topic, in this region as SNS targets must
        be. docs/aws-facts.md, rows "Event bus in another account or Region" and "EventBridge to SNS".
        """
        bus = events.EventBus(
            self, "AlarmEvents", event_bus_name=bus_name, description="The other regions' standing alarm changes."
        )
        for account, region in sources:
            bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"StandingAlarms-{account}-{region}",
                    principals=[iam.AccountPrincipal(account)],
                    actions=["events:PutEvents"],
                    resources=[bus.event_bus_arn],
                    conditions={"ArnLike": {"aws:SourceArn": f"arn:{partition}:events:{region}:{account}:rule/*"}},
                )
            )
        events.Rule(
            self,
            "AlarmEventsToNotifications",
            description="The other regions' standing alarm changes, to the notifications topic.",
            event_bus=bus,
            # The bus's policy is what admits the senders: the pattern matches what they forward.
            event_pattern=alarm_state_changes(),
            targets=[targets.SnsTopic(self.notifications_topic)],
        )
        return bus

    def _acknowledge_design_choices(self) -> None:
        """What CDK Pipelines builds that cdk-nag flags, each acknowledged where it is, with the reason."""
        pipeline = self.pipeline.pipeline
        artifacts = pipeline.artifact_bucket
        _acknowledge(
            artifacts,
            "AwsSolutions-S1",
            "The artifact bucket holds only this pipeline's source and cloud assemblies, written and read by the "
            "pipeline's own roles under its KMS key; CloudTrail data events audit it if needed, where an access-log "
            "bucket would be one more unlogged bucket.",
        )
        bucket_id = self.get_logical_id(_default_child(artifacts))
        for action in ARTIFACT_ACTION_WILDCARDS:
            _acknowledge(
                self.pipeline,
                f"AwsSolutions-IAM5[Action::{action}]",
                f"CDK's read/write grant on the pipeline's artifact bucket and its KMS key: {action} is one of S3's "
                "and KMS's action families for reading and writing objects, on that one bucket and key only.",
            )
        _acknowledge(
            self.pipeline,
            f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/*]",
            "The pipeline's roles read and write artifacts, which are objects named per run in the artifact bucket.",
        )

        # Each CodeBuild project writes logs and test reports only under names derived from its own.
        partition = region_info.RegionInfo.get(self.region).partition
        arn = f"arn:{partition}:%s:{self.region}:{self.account}"
        projects = [node for node in self.pipeline.node.find_all() if isinstance(node, codebuild.Project)]
        for project in projects:
            project_id = self.get_logical_id(_default_child(project))
            for resource in (
                f"{arn % 'logs'}:log-group:/aws/codebuild/<{project_id}>:*",
                f"{arn % 'codebuild'}:report-group/<{project_id}>-*",
            ):
                _acknowledge(
                    project,
                    f"AwsSolutions-IAM5[Resource::{resource}]",
                    "CodeBuild names a log stream per build inside the project's own log group, and report groups "
                    "after the project: the wildcard spans this project's builds only.",
                )

        assets = self.pipeline.node.find_child("Assets").node.find_child("FileRole")
        for resource, why in (
            (f"{arn % 'logs'}:log-group:/aws/codebuild/*", "log groups"),
            (f"{arn % 'codebuild'}:report-group/*", "report groups"),
            ("*", "builds (codebuild:StartBuild and friends, which CDK grants on every project)"),
        ):
            _acknowledge(
                assets,
                f"AwsSolutions-IAM5[Resource::{resource}]",
                f"One role serves every asset-publishing project CDK Pipelines creates, one per asset and created "
                f"as assets appear, so it names their {why} by pattern; it assumes only the bootstrap's "
                "file-publishing role.",
            )

        # An environment in another region than the pipeline's: CDK adds a support stack there, with a
        # bucket (and key) that CodePipeline replicates the artifacts to.
        for region, support in pipeline.cross_region_support.items():
            replica = support.replication_bucket
            _acknowledge(
                replica,
                "AwsSolutions-S1",
                f"CDK's replica of the artifact bucket in {region}, for the environments there: it holds copies of "
                "this pipeline's artifacts only, written by the pipeline's role.",
            )
            _acknowledge(
                pipeline.role,
                f"AwsSolutions-IAM5[Resource::arn:{partition}:s3:::{self.resolve(replica.bucket_name)}/*]",
                f"The pipeline copies artifacts, objects named per run, into the replica bucket in {region}.",
            )
        if pipeline.cross_region_support:
            _acknowledge(
                pipeline.role,
                "AwsSolutions-IAM5[Resource::*]",
                "The replica buckets' keys live in other regions' support stacks, which CDK can name only by an "
                "alias there, so the pipeline role's KMS statement names no key; every key's own policy still has "
                "to let this account use it.",
            )

        self_mutation = self.pipeline.node.find_child("UpdatePipeline").node.find_child("SelfMutation")
        _acknowledge(
            self_mutation,
            f"AwsSolutions-IAM5[Resource::arn:*:iam::{self.account}:role/*]",
            "Self-mutation assumes the CDK bootstrap's deploy and publishing roles, selected by their "
            "aws-cdk:bootstrap-role tag (a condition on the statement), whose names carry a qualifier.",
        )
        _acknowledge(
            self_mutation,
            "AwsSolutions-IAM5[Resource::*]",
            "Self-mutation's cdk deploy reads stack status (cloudformation:DescribeStacks) and finds the bootstrap "
            "bucket (s3:ListBucket); both only read, and the stack it deploys is not known before it runs.",
        )


def _default_child(construct: IConstruct) -> CfnElement:
    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    return child


def _acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
