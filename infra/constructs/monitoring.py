"""What production does, per stage: a dashboard of every route, and standing alarms to a topic.

The function's line per request carries its metrics in CloudWatch's Embedded Metric Format
(`service/core/request_log.py`): requests, 4xx, 5xx and latency per `FunctionName` and
`Route` (the gateway's route key), and cold starts. A 401 or 403 from the JWT authorizer
never reaches the function, so the refusals are counted from the stage's access log by two
metric filters: the requests to the authorized routes and those answered 401 or 403. The
rest is AWS's own: API Gateway's `Count`, `5xx` and `Latency` per `ApiId` and `Stage` (AWS
docs, "Monitor CloudWatch metrics for HTTP APIs in API Gateway") and Lambda's `Errors`,
`Throttles`, `Invocations` and `Duration` (AWS docs, "Types of metrics for Lambda functions").
(docs/aws-facts.md, row "Service metrics")

The routes come from the construct that derived them from the app (`LambdaApi.gateway_routes`):
a route added to the app gets its row on the dashboard with the next synth.

The alarms stand beside the canary's (which watch the alias only while CodeDeploy shifts
traffic): the stage's 5xx rate, its p99 latency, the function's throttled share, and a rise
in 401/403 on the authorized routes, the mark of a release or an identity-provider change
that refuses valid users. Each threshold is a context key (`infra/config.py`, docs/settings.md).
They notify the topic `alarm_topic_arn` names, else a topic of the stack's own; the pipeline
names its notifications topic there for the environments in its region, and has those in another
region forward their alarms' state changes to it through EventBridge (`alarm_event_bus_arn`,
`infra/stacks/pipeline_stack.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import ApiConfig
from infra.constructs.lambda_api import LambdaApi
from infra.routes import GatewayRoute
from service.core import request_log as emf

# The standing alarms look at five-minute datapoints, two bad ones of three: long enough that
# one unlucky request at night pages no one, short enough to page within a quarter of an hour.
PERIOD = Duration.minutes(5)
EVALUATION_PERIODS = 3
DATAPOINTS_TO_ALARM = 2
# The access log's metrics (metric filters), per API and stage.
AUTHORIZED_REQUESTS = "AuthorizedRouteRequests"
AUTH_REFUSALS = "AuthorizedRouteRefusals"
ACCESS_LOG_DIMENSIONS = {"ApiId": "$.apiId", "Stage": "$.stage"}
# docs/aws-facts.md, row "Metric filter pattern"
# CloudWatch Logs takes a filter pattern of at most 1,024 characters (AWS docs, CloudWatch Logs
# API reference, PutMetricFilter: filterPattern, "Length Constraints: Maximum length of 1024").
MAX_FILTER_PATTERN = 1024
WIDGET_WIDTH = 12
WIDGET_HEIGHT = 6
# docs/aws-facts.md, row "Alarm state change events"
# CloudWatch puts each alarm's state change on its region's default event bus, under this source and detail type.
ALARM_EVENT_SOURCE = "aws.cloudwatch"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
# The states the alarms' SNS actions notify: the events forwarded are the same changes.
NOTIFIED_STATES = ("ALARM", "OK")


def alarm_state_changes(**fields: Sequence[str]) -> events.EventPattern:
    """The EventBridge pattern of the alarms' changes into ALARM or OK; `fields` narrow it (`resources`...)."""
    return events.EventPattern(
        source=[ALARM_EVENT_SOURCE],
        detail_type=[ALARM_STATE_CHANGE],
        detail={"state": {"value": list(NOTIFIED_STATES)}},
        **{name: list(values) for name, values in fields.items()},
    )


def route_selector(routes: Sequence[GatewayRoute]) -> str:
    """A filter-pattern condition true for the access-log lines of the authorized routes.

    The shorter of "one of the authorized routes" and "none of the public ones (nor `-`, no
    route at all)", so that an API of many protected routes and few public ones still fits.
    """
    authorized = [route.key for route in routes if route.authorized]
    public = [route.key for route in routes if not route.authorized] + ["-"]
    excluding = " && ".join(f'$.routeKey != "{key}"' for key in public)
    if not authorized:
        # No authorized route: a condition no routed line meets.
        return f"({excluding})"
    including = " || ".join(f'$.routeKey = "{key}"' for key in authorized)
    return f"({min(including, excluding, key=len)})"


REFUSED = '($.status = "401" || $.status = "403")'
# Where the routes cannot be named within the limit: what only an authorized route has, the
# JWT authorizer's error (`-` where there is none, as the access log renders an empty variable).
AUTHORIZER_REFUSED = '$.authorizerError != "-"'
ROUTED = '$.routeKey != "-"'


def authorized_pattern(routes: Sequence[GatewayRoute], *, refused: bool) -> str:
    """The access-log filter pattern for the authorized routes' requests, or (`refused`) their 401/403 answers.

    An API with too many routes to name in a pattern counts, instead, the refusals the JWT
    authorizer itself answered, against every routed request: the app's own 401/403 on those
    routes are then left out.
    """
    condition = route_selector(routes)
    pattern = f"{{ {condition} && {REFUSED} }}" if refused else f"{{ {condition} }}"
    if len(pattern) <= MAX_FILTER_PATTERN:
        return pattern
    return f"{{ {REFUSED} && {AUTHORIZER_REFUSED} }}" if refused else f"{{ {ROUTED} }}"


class ApiMonitoring(Construct):
    """The stage's dashboard (`dashboard`, `dashboard_url`) and standing alarms (`alarms`) to `topic`.

    With `alarm_event_bus_arn` (the pipeline's bus, in another region), their state changes go there too.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: LambdaApi,
        config: ApiConfig,
        alarm_event_bus_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = api
        self.routes = api.gateway_routes
        stage_dimensions = {"ApiId": api.http_api.api_id, "Stage": api.stage.stage_name}

        self.authorized_requests = self._access_log_metric(AUTHORIZED_REQUESTS, refused=False)
        self.auth_refusals = self._access_log_metric(AUTH_REFUSALS, refused=True)
        self.cold_starts = self._emf(emf.COLD_START, "Sum", route=None)
        gateway = {
            name: cloudwatch.Metric(
                namespace="AWS/ApiGateway", metric_name=name, dimensions_map=stage_dimensions, period=PERIOD
            )
            for name in ("Count", "5xx", "Latency")
        }

        if config.alarm_topic_arn:
            self.topic: sns.ITopic = sns.Topic.from_topic_arn(self, "AlarmTopic", config.alarm_topic_arn)
        else:
            self.topic = self._own_topic()

        self.server_errors_alarm = self._alarm(
            "ServerErrorRate",
            cloudwatch.MathExpression(
                expression="100 * errors / requests",
                using_metrics={
                    "errors": gateway["5xx"].with_(statistic="Sum"),
                    "requests": gateway["Count"].with_(statistic="Sum"),
                },
                label="5xx answers, % of requests",
                period=PERIOD,
            ),
            threshold=config.alarm_server_error_percent,
            description=f"More than {config.alarm_server_error_percent:g} % of the stage's answers were 5xx "
            "(context key alarm_server_error_percent).",
        )
        self.latency_alarm = self._alarm(
            "LatencyP99",
            gateway["Latency"].with_(statistic="p99"),
            threshold=config.alarm_latency_p99_ms,
            description=f"The stage's p99 latency passed {config.alarm_latency_p99_ms:g} ms "
            "(context key alarm_latency_p99_ms).",
        )
        function = api.function
        self.throttles_alarm = self._alarm(
            "ThrottleRate",
            # Throttled invocations are not counted in Invocations: the attempts are both together.
            cloudwatch.MathExpression(
                expression="100 * throttles / (throttles + invocations)",
                using_metrics={
                    "throttles": function.metric_throttles(period=PERIOD, statistic="Sum"),
                    "invocations": function.metric_invocations(period=PERIOD, statistic="Sum"),
                },
                label="throttled invocations, % of attempts",
                period=PERIOD,
            ),
            threshold=config.alarm_throttle_percent,
            description=f"Lambda throttled more than {config.alarm_throttle_percent:g} % of the function's "
            "invocations (context key alarm_throttle_percent).",
        )
        self.auth_refusals_alarm = self._auth_refusals_alarm(config)
        self.alarms = (self.server_errors_alarm, self.latency_alarm, self.throttles_alarm, self.auth_refusals_alarm)
        for alarm in self.alarms:
            alarm.add_alarm_action(actions.SnsAction(self.topic))
            alarm.add_ok_action(actions.SnsAction(self.topic))
        self.forwarding: events.Rule | None = None
        if alarm_event_bus_arn is not None:
            self.forwarding = self._forward_state_changes(alarm_event_bus_arn)

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self._add_widgets(gateway)
        region = Stack.of(self).region
        # The console's address of a dashboard (AWS docs, CloudWatch user guide, "Sharing CloudWatch dashboards").
        self.dashboard_url = (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards:name={self.dashboard.dashboard_name}"
        )

    def _own_topic(self) -> sns.Topic:
        """An encrypted topic that CloudWatch alarms may publish to; subscribe to it after deploying."""
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the service's alarms topic.",
            enable_key_rotation=True,
        )
        # CloudWatch publishes to an encrypted topic only with these on its key (AWS docs, SNS developer
        # guide, "Enable compatibility between event sources from AWS services and encrypted topics";
        # docs/aws-facts.md, row "Encrypted topic for AWS services").
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        return sns.Topic(self, "AlarmTopic", display_name="FastAPI service alarms", master_key=key, enforce_ssl=True)

    def _forward_state_changes(self, event_bus_arn: str) -> events.Rule:
        """A rule sending these alarms' changes into ALARM or OK to an event bus of another account or region.

        EventBridge sends them with a role of this stack's allowed events:PutEvents on that bus
        alone; the bus's own policy must let this account put events (docs/aws-facts.md, row
        "Event bus in another account or Region").
        """
        bus = events.EventBus.from_event_bus_arn(self, "ForwardToBus", event_bus_arn)
        return events.Rule(
            self,
            "ForwardStateChanges",
            description="The standing alarms' changes into ALARM or OK, to the pipeline's notifications.",
            event_pattern=alarm_state_changes(resources=[alarm.alarm_arn for alarm in self.alarms]),
            targets=[targets.EventBus(bus)],
        )

    def _emf(self, name: str, statistic: str, *, route: str | None) -> cloudwatch.Metric:
        dimensions = {emf.FUNCTION_DIMENSION: self.api.function.function_name}
        if route is not None:
            dimensions[emf.ROUTE_DIMENSION] = route
        return cloudwatch.Metric(
            namespace=emf.NAMESPACE,
            metric_name=name,
            dimensions_map=dimensions,
            statistic=statistic,
            period=PERIOD,
            label=f"{route} {name} {statistic}" if route else f"{name} {statistic}",
        )

    def _access_log_metric(self, name: str, *, refused: bool) -> cloudwatch.Metric:
        logs.MetricFilter(
            self,
            name,
            log_group=self.api.access_log_group,
            filter_pattern=logs.FilterPattern.literal(authorized_pattern(self.routes, refused=refused)),
            metric_namespace=emf.NAMESPACE,
            metric_name=name,
            metric_value="1",
            dimensions=ACCESS_LOG_DIMENSIONS,
        )
        return cloudwatch.Metric(
            namespace=emf.NAMESPACE,
            metric_name=name,
            dimensions_map={"ApiId": self.api.http_api.api_id, "Stage": self.api.stage.stage_name},
            statistic="Sum",
            period=PERIOD,
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, *, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=EVALUATION_PERIODS,
            datapoints_to_alarm=DATAPOINTS_TO_ALARM,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _auth_refusals_alarm(self, config: ApiConfig) -> cloudwatch.AlarmBase:
        if config.alarm_auth_refusals == "anomaly":
            # A band learnt from the metric's own history (AWS docs, "Using CloudWatch anomaly
            # detection"): a quiet API and a busy one alike, without a rate to choose.
            return cloudwatch.AnomalyDetectionAlarm(
                self,
                "AuthRefusals",
                alarm_description=f"401/403 answers on the authorized routes rose above their anomaly band "
                f"({config.alarm_auth_refusal_band:g} standard deviations; context keys alarm_auth_refusals, "
                "alarm_auth_refusal_band).",
                metric=self.auth_refusals,
                std_devs=config.alarm_auth_refusal_band,
                evaluation_periods=EVALUATION_PERIODS,
                datapoints_to_alarm=DATAPOINTS_TO_ALARM,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        return self._alarm(
            "AuthRefusals",
            cloudwatch.MathExpression(
                expression="100 * refused / requests",
                using_metrics={"refused": self.auth_refusals, "requests": self.authorized_requests},
                label="401/403 answers, % of the authorized routes' requests",
                period=PERIOD,
            ),
            threshold=config.alarm_auth_refusal_percent,
            description=f"More than {config.alarm_auth_refusal_percent:g} % of the authorized routes' requests "
            "were refused 401/403 (context keys alarm_auth_refusals, alarm_auth_refusal_percent).",
        )

    def _add_widgets(self, gateway: dict[str, cloudwatch.Metric]) -> None:
        function = self.api.function
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Standing alarms", alarms=list(self.alarms), width=24, height=3),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Stage: requests, 5xx",
                left=[gateway["Count"].with_(statistic="Sum")],
                right=[gateway["5xx"].with_(statistic="Sum")],
                width=WIDGET_WIDTH,
                height=WIDGET_HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Stage: latency p50, p99",
                left=[gateway["Latency"].with_(statistic=statistic) for statistic in ("p50", "p99")],
                width=WIDGET_WIDTH,
                height=WIDGET_HEIGHT,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Cold starts", left=[self.cold_starts], width=WIDGET_WIDTH, height=WIDGET_HEIGHT
            ),
            cloudwatch.GraphWidget(
                title="Throttles",
                left=[function.metric_throttles(period=PERIOD, statistic="Sum")],
                width=WIDGET_WIDTH,
                height=WIDGET_HEIGHT,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Authorizer refusals: 401/403 on the authorized routes",
                left=[self.auth_refusals],
                right=[self.authorized_requests],
                width=WIDGET_WIDTH,
                height=WIDGET_HEIGHT,
            ),
            cloudwatch.GraphWidget(
                title="Function: errors, duration p50, p99",
                left=[function.metric_errors(period=PERIOD, statistic="Sum")],
                right=[function.metric_duration(period=PERIOD, statistic=s) for s in ("p50", "p99")],
                width=WIDGET_WIDTH,
                height=WIDGET_HEIGHT,
            ),
        )
        for route in self.routes:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{route.key}: requests, 4xx, 5xx",
                    left=[
                        self._emf(name, "Sum", route=route.key)
                        for name in (emf.REQUESTS, emf.ERRORS_4XX, emf.ERRORS_5XX)
                    ],
                    width=WIDGET_WIDTH,
                    height=WIDGET_HEIGHT,
                ),
                cloudwatch.GraphWidget(
                    title=f"{route.key}: latency p50, p99",
                    left=[self._emf(emf.LATENCY, statistic, route=route.key) for statistic in ("p50", "p99")],
                    width=WIDGET_WIDTH,
                    height=WIDGET_HEIGHT,
                ),
            )
