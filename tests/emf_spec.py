"""CloudWatch's Embedded Metric Format, as its specification states it, for checking the lines the function writes.

Source: AWS docs, CloudWatch user guide, "Specification: Embedded metric format"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
and the CloudWatch API's limits on what the metrics become (API reference, `Metric`,
`Dimension`, `MetricDatum`: names and namespaces of 1 to 255 characters, at most 30
dimensions, the standard units).
"""

from __future__ import annotations

import numbers
from typing import Any

_SIZES = (
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
)
STANDARD_UNITS = frozenset(
    ["Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", "None", *_SIZES]
    + [f"{size}/Second" for size in _SIZES]
)
MAX_DIMENSIONS_PER_SET = 30
MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100
MAX_NAME = 255
MAX_DIMENSION_VALUE = 1024


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def emf_problems(event: dict[str, Any]) -> list[str]:
    """What makes `event` (a log event, decoded) not an EMF document; empty when it is one."""
    problems: list[str] = []
    metadata = event.get("_aws")
    if not isinstance(metadata, dict):
        return ["no `_aws` object at the top level of the log event"]
    if not _is_number(metadata.get("Timestamp")):
        problems.append("_aws.Timestamp is not a number (milliseconds since the epoch)")
    directives = metadata.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "_aws.CloudWatchMetrics is not a non-empty array of metric directives"]
    for index, directive in enumerate(directives):
        problems += _directive_problems(event, directive, f"_aws.CloudWatchMetrics[{index}]")
    return problems


def _directive_problems(event: dict[str, Any], directive: Any, where: str) -> list[str]:
    if not isinstance(directive, dict):
        return [f"{where} is not an object"]
    problems: list[str] = []
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= MAX_NAME or namespace.startswith(":"):
        problems.append(f"{where}.Namespace is not a namespace")
    dimension_sets = directive.get("Dimensions")
    if not isinstance(dimension_sets, list):
        problems.append(f"{where}.Dimensions is not an array of dimension sets")
    else:
        problems += [f"{where}: {problem}" for problem in _dimension_problems(event, dimension_sets)]
    metrics = directive.get("Metrics")
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        problems.append(f"{where}.Metrics is not an array of at most 100 metric definitions")
    else:
        problems += [f"{where}: {problem}" for metric in metrics for problem in _metric_problems(event, metric)]
    return problems


def _dimension_problems(event: dict[str, Any], dimension_sets: list[Any]) -> list[str]:
    problems: list[str] = []
    for dimensions in dimension_sets:
        if not isinstance(dimensions, list) or len(dimensions) > MAX_DIMENSIONS_PER_SET:
            problems.append("a dimension set is not an array of at most 30 keys")
            continue
        for key in dimensions:
            value = event.get(key) if isinstance(key, str) else None
            if not isinstance(value, str) or not 1 <= len(value) <= MAX_DIMENSION_VALUE:
                problems.append(f"dimension {key!r} names no top-level string member")
    return problems


def _metric_problems(event: dict[str, Any], metric: Any) -> list[str]:
    name = metric.get("Name") if isinstance(metric, dict) else None
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        return ["a metric definition has no Name"]
    problems: list[str] = []
    if "Unit" in metric and metric["Unit"] not in STANDARD_UNITS:
        problems.append(f"metric {name}: unit {metric['Unit']!r} is not a CloudWatch unit")
    if metric.get("StorageResolution", 60) not in (1, 60):
        problems.append(f"metric {name}: StorageResolution is neither 1 nor 60")
    value = event.get(name)
    values = value if isinstance(value, list) else [value]
    if not values or len(values) > MAX_VALUES_PER_METRIC or not all(_is_number(v) for v in values):
        problems.append(f"metric {name} names no top-level number (or array of up to 100)")
    return problems


def metric_values(event: dict[str, Any]) -> dict[str, tuple[dict[str, str], Any]]:
    """Each metric the event defines: its dimensions (every set's keys with their values) and its value."""
    found: dict[str, tuple[dict[str, str], Any]] = {}
    for directive in event["_aws"]["CloudWatchMetrics"]:
        dimensions = {key: event[key] for keys in directive["Dimensions"] for key in keys}
        for metric in directive["Metrics"]:
            found[metric["Name"]] = (dimensions, event[metric["Name"]])
    return found
