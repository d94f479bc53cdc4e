"""The stage's dashboard and standing alarms, read from the synthesized template.

Expectations come from the routes the construct derived from the app and from the context
each synth was given, so a route added to the app or a threshold changed in cdk.json keeps
these tests meaningful.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.config import ApiConfig
from infra.constructs.monitoring import AUTH_REFUSALS, AUTHORIZED_REQUESTS, MAX_FILTER_PATTERN, authorized_pattern
from infra.routes import GatewayRoute
from service.core import request_log as emf
from tests.infra.conftest import CUSTOM_CONTEXT, Synthesized, cdk_json_context


def config_of(overrides: dict[str, str]) -> ApiConfig:
    return ApiConfig.from_context({**cdk_json_context(), **overrides})


def joined(value: Any) -> str:
    """An Fn::Join rendered as text, each reference as <logical id>."""
    if isinstance(value, str):
        return value
    separator: str
    parts: list[Any]
    separator, parts = value["Fn::Join"]
    return separator.join(part if isinstance(part, str) else f"<{_ref_name(part)}>" for part in parts)


def _ref_name(part: dict[str, Any]) -> str:
    target = next(iter(part.values()))
    return target if isinstance(target, str) else str(target[0])


def dashboard_widgets(synth: Synthesized) -> list[dict[str, Any]]:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body: dict[str, Any] = json.loads(joined(dashboard["Properties"]["DashboardBody"]))
    widgets: list[dict[str, Any]] = body["widgets"]
    return widgets


def emf_routes(widget: dict[str, Any]) -> set[str]:
    """The Route dimension of each of the widget's metrics in the service's namespace."""
    routes = set()
    for metric in widget["properties"].get("metrics", []):
        if metric[0] == emf.NAMESPACE:
            pairs = dict(zip(metric[2:-1:2], metric[3::2], strict=False))
            if emf.ROUTE_DIMENSION in pairs:
                routes.add(pairs[emf.ROUTE_DIMENSION])
    return routes


@pytest.fixture(params=["default", "custom"])
def synth_and_config(
    request: pytest.FixtureRequest, default_synth: Synthesized, custom_synth: Synthesized
) -> tuple[Synthesized, ApiConfig]:
    if request.param == "default":
        return default_synth, config_of({})
    return custom_synth, config_of(CUSTOM_CONTEXT)


def test_each_route_of_the_app_has_its_requests_errors_and_latency_widgets(
    synth_and_config: tuple[Synthesized, ApiConfig],
) -> None:
    synth, _ = synth_and_config
    routes = synth.stack.api.gateway_routes
    assert routes
    widgets = dashboard_widgets(synth)
    for route in routes:
        mine = [w for w in widgets if emf_routes(w) == {route.key}]
        titles = sorted(w["properties"]["title"] for w in mine)
        assert titles == [f"{route.key}: latency p50, p99", f"{route.key}: requests, 4xx, 5xx"]
        metrics = [m for w in mine for m in w["properties"]["metrics"]]
        named = {(m[1], m[-1].get("stat")) for m in metrics}
        assert named == {
            (emf.REQUESTS, "Sum"),
            (emf.ERRORS_4XX, "Sum"),
            (emf.ERRORS_5XX, "Sum"),
            (emf.LATENCY, "p50"),
            (emf.LATENCY, "p99"),
        }
        # Each metric is this function's: the dimension the function's lines carry.
        assert all(m[m.index(emf.FUNCTION_DIMENSION) + 1].startswith("<") for m in metrics)
    # No row for a route the gateway does not have.
    assert set().union(*(emf_routes(w) for w in widgets)) == {route.key for route in routes}


def test_the_dashboard_shows_cold_starts_throttles_refusals_and_the_functions_errors_and_duration(
    default_synth: Synthesized,
) -> None:
    metrics = {
        (metric[0], metric[1], metric[-1].get("stat"))
        for widget in dashboard_widgets(default_synth)
        for metric in widget["properties"].get("metrics", [])
    }
    assert {
        (emf.NAMESPACE, emf.COLD_START, "Sum"),
        ("AWS/Lambda", "Throttles", "Sum"),
        (emf.NAMESPACE, AUTH_REFUSALS, "Sum"),
        ("AWS/Lambda", "Errors", "Sum"),
        ("AWS/Lambda", "Duration", "p50"),
        ("AWS/Lambda", "Duration", "p99"),
        ("AWS/ApiGateway", "Latency", "p99"),
    } <= metrics


def test_the_dashboard_url_is_a_stack_output(default_synth: Synthesized) -> None:
    url = joined(default_synth.template_json["Outputs"]["DashboardUrl"]["Value"])
    (dashboard_id,) = default_synth.resources("AWS::CloudWatch::Dashboard")
    assert re.fullmatch(
        rf"https://<AWS::Region>\.console\.aws\.amazon\.com/cloudwatch/home\?region=<AWS::Region>"
        rf"#dashboards:name=<{dashboard_id}>",
        url,
    ), url


def alarms_by_id(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in synth.resources("AWS::CloudWatch::Alarm").items()
        if "Monitoring" in logical_id
    }


def alarm(synth: Synthesized, name: str) -> dict[str, Any]:
    (found,) = [props for logical_id, props in alarms_by_id(synth).items() if name in logical_id]
    return found


def test_each_alarm_takes_its_threshold_from_the_context(synth_and_config: tuple[Synthesized, ApiConfig]) -> None:
    synth, config = synth_and_config
    assert alarm(synth, "ServerErrorRate")["Threshold"] == config.alarm_server_error_percent
    latency = alarm(synth, "LatencyP99")
    assert latency["Threshold"] == config.alarm_latency_p99_ms
    assert latency["ExtendedStatistic"] == "p99"
    assert alarm(synth, "ThrottleRate")["Threshold"] == config.alarm_throttle_percent
    refusals = alarm(synth, "AuthRefusals")
    if config.alarm_auth_refusals == "anomaly":
        band = next(m for m in refusals["Metrics"] if "Expression" in m)
        assert band["Expression"].startswith("ANOMALY_DETECTION_BAND(")
        assert band["Expression"].endswith(f", {config.alarm_auth_refusal_band:g})")
        assert refusals["ThresholdMetricId"] == band["Id"]
        assert refusals["ComparisonOperator"] == "GreaterThanUpperThreshold"
    else:
        assert refusals["Threshold"] == config.alarm_auth_refusal_percent
        assert "100 * refused / requests" in {m.get("Expression") for m in refusals["Metrics"]}


def test_every_alarm_notifies_the_configured_topic_or_the_stacks_own(
    synth_and_config: tuple[Synthesized, ApiConfig],
) -> None:
    synth, config = synth_and_config
    alarms = alarms_by_id(synth)
    assert len(alarms) == 4
    own_topics = synth.resources("AWS::SNS::Topic")
    if config.alarm_topic_arn:
        expected: Any = config.alarm_topic_arn
        assert not own_topics
    else:
        (topic_id,) = own_topics
        expected = {"Ref": topic_id}
    for props in alarms.values():
        assert props["AlarmActions"] == [expected]
        assert props["OKActions"] == [expected]


def test_the_refusal_filters_count_401_and_403_on_the_authorized_routes_only(default_synth: Synthesized) -> None:
    routes = default_synth.stack.api.gateway_routes
    filters = {
        props["MetricTransformations"][0]["MetricName"]: props
        for props in (r["Properties"] for r in default_synth.resources("AWS::Logs::MetricFilter").values())
    }
    assert set(filters) == {AUTHORIZED_REQUESTS, AUTH_REFUSALS}
    assert filters[AUTH_REFUSALS]["FilterPattern"] == authorized_pattern(routes, refused=True)
    for props in filters.values():
        assert props["MetricTransformations"][0]["Dimensions"] == [
            {"Key": "ApiId", "Value": "$.apiId"},
            {"Key": "Stage", "Value": "$.stage"},
        ]


_COMPARISON = re.compile(r'\$\.(\w+) (!=|=) "([^"]*)"')


def matches(pattern: str, line: dict[str, str]) -> bool:
    """What CloudWatch Logs makes of a JSON filter pattern built of `$.field = "text"`, `!=`, `&&`, `||`, `()`."""

    def truth(comparison: re.Match[str]) -> str:
        equal = line.get(comparison.group(1)) == comparison.group(3)
        return str(equal if comparison.group(2) == "=" else not equal)

    expression = _COMPARISON.sub(truth, pattern.strip().removeprefix("{").removesuffix("}"))
    # Only True, False, and, or, parentheses are left.
    expression = expression.replace("&&", " and ").replace("||", " or ")
    assert re.fullmatch(r"[\sTrueFalsandor()]*", expression), expression
    return bool(eval(expression, {"__builtins__": {}}))  # noqa: S307 - checked above: booleans only


@pytest.mark.parametrize("grown", [0, 3])
def test_the_refusal_pattern_selects_exactly_the_authorized_routes(grown: int) -> None:
    routes = [
        GatewayRoute("GET", "/v1/manage/hc", authorized=False),
        GatewayRoute("POST", "/v1/auth/token", authorized=False),
        GatewayRoute("GET", "/v1/users/whoami", authorized=True),
        GatewayRoute("GET", "/v1/things/{id}", authorized=True),
        *(GatewayRoute("GET", f"/v1/more{n}/{{id}}", authorized=True) for n in range(grown)),
    ]
    pattern = authorized_pattern(routes, refused=True)
    for route in [*routes, None]:
        for status in ("200", "401", "403", "404"):
            line = {"routeKey": route.key if route else "-", "status": status}
            expected = route is not None and route.authorized and status in ("401", "403")
            assert matches(pattern, line) == expected, (pattern, line)


def test_an_api_with_more_routes_than_a_pattern_can_name_counts_the_authorizers_refusals() -> None:
    routes = [GatewayRoute("GET", f"/v1/resource-{n}/{{id}}", authorized=n % 2 == 0) for n in range(300)]
    refused = authorized_pattern(routes, refused=True)
    requests = authorized_pattern(routes, refused=False)
    assert len(refused) <= MAX_FILTER_PATTERN
    assert len(requests) <= MAX_FILTER_PATTERN
    for route in routes:
        for status, authorizer_error in (("200", "-"), ("401", "The token has expired"), ("403", "-")):
            line = {"routeKey": route.key, "status": status, "authorizerError": authorizer_error}
            assert matches(refused, line) == (authorizer_error != "-")
            assert matches(requests, line)
    assert not matches(requests, {"routeKey": "-", "status": "404", "authorizerError": "-"})
