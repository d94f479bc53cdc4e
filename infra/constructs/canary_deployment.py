"""A new version reaches the alias as a canary, and goes back the moment an alarm fires.

CloudFormation hands the alias update to CodeDeploy, which sends 10 % of the alias's traffic
to the new version for five minutes, then all of it. Three alarms watch the alias and the API
meanwhile: the function's errors (crashes, timeouts, a failed cold start: the app itself
answers 500s, so a Lambda error is a broken version), the share of its invocations Lambda
throttled, and the API's rate of 5xx answers.

The function has a reserved concurrency and the gateway throttles (the stage's default, the
token route's own): a gateway throttle answers 429 before Lambda is called, so it moves no
alarm; Lambda throttles an invocation only when the reserved executions are all busy. A few
of those in a burst are the cap doing its job, so the throttle alarm is a rate over minutes,
like the 5xx one: it fires when a version holds executions so long (a slower one) that a
steady share of the traffic is refused. If one fires, CodeDeploy points the alias back at the old version and the stack
update fails, so the pipeline stops before the next environment.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Duration, Stack, Validations
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# One-minute datapoints: the canary lasts five, so an alarm must be able to fire within it.
ALARM_PERIOD = Duration.minutes(1)
# What CodeDeploy does with the alias's traffic: 10 % to the new version for five minutes, then all.
CANARY = codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES
# The share of the API's answers that may be 5xx before the rollout is called off, in percent.
MAX_SERVER_ERROR_PERCENT = 5
# The share of invocations Lambda may throttle (reserved concurrency exhausted), in percent.
MAX_THROTTLED_PERCENT = 1


class CanaryDeployment(Construct):
    """CodeDeploy's canary on the function's alias, with the alarms that roll it back."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alias: lambda_.Alias,
        stage: apigwv2.HttpStage,
        deployment_config: codedeploy.ILambdaDeploymentConfig = CANARY,
        pre_hook: lambda_.IFunction | None = None,
        post_hook: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "FunctionErrors",
            alarm_description="The function's alias failed an invocation (crash, timeout or failed start).",
            metric=alias.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        # Throttled invocations are not counted in Invocations: the attempts are both together.
        throttled_rate = cloudwatch.MathExpression(
            expression="100 * throttles / (throttles + invocations)",
            using_metrics={
                "throttles": alias.metric_throttles(period=ALARM_PERIOD, statistic="Sum"),
                "invocations": alias.metric_invocations(period=ALARM_PERIOD, statistic="Sum"),
            },
            label="throttled invocations, % of attempts",
            period=ALARM_PERIOD,
        )
        self.throttles_alarm = cloudwatch.Alarm(
            self,
            "FunctionThrottles",
            alarm_description=f"Lambda refused more than {MAX_THROTTLED_PERCENT} % of the alias's invocations "
            "for lack of concurrency (reserved concurrency exhausted), in two minutes of three.",
            metric=throttled_rate,
            threshold=MAX_THROTTLED_PERCENT,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        # A rate, not a count: busy and quiet hours alike. Two bad minutes of three, so one
        # unlucky request at low traffic does not undo a deployment on its own.
        server_error_rate = cloudwatch.MathExpression(
            expression="100 * errors / requests",
            using_metrics={
                "errors": stage.metric_server_error(period=ALARM_PERIOD, statistic="Sum"),
                "requests": stage.metric_count(period=ALARM_PERIOD, statistic="SampleCount"),
            },
            label="5xx answers, % of requests",
            period=ALARM_PERIOD,
        )
        self.server_errors_alarm = cloudwatch.Alarm(
            self,
            "ApiServerErrorRate",
            alarm_description=f"More than {MAX_SERVER_ERROR_PERCENT} % of the API's answers were 5xx.",
            metric=server_error_rate,
            threshold=MAX_SERVER_ERROR_PERCENT,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms = (self.errors_alarm, self.throttles_alarm, self.server_errors_alarm)

        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "DeploymentGroup",
            alias=alias,
            deployment_config=deployment_config,
            alarms=list(self.alarms),
            # BeforeAllowTraffic and AfterAllowTraffic (infra/constructs/deployment_hooks.py): CDK lets each
            # report its status to this group alone and lets CodeDeploy's role invoke it.
            pre_hook=pre_hook,
            post_hook=post_hook,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )
        stack = Stack.of(self)
        for hook in (h for h in (pre_hook, post_hook) if h is not None):
            function = hook.node.default_child
            assert isinstance(function, CfnElement)
            Validations.of(self.deployment_group.role).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(function)}.Arn>:*]",
                    reason="CDK's grant for CodeDeploy to invoke this lifecycle hook: the hook function itself and "
                    "its versions and aliases (`:*`), that one function only.",
                )
            )
        Validations.of(self.deployment_group.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSCodeDeployRoleForLambdaLimited]",
                reason="CodeDeploy's own policy for Lambda deployments: read alarms, invoke hooks named "
                "CodeDeployHook_*, update the alias it shifts; AWS keeps it in step with the service.",
            )
        )
