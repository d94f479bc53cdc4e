"""What the deployed stack costs per month, computed from its synthesized templates and stated assumptions.

docs/cost.md shows the table this module renders (tests/pipeline/test_cost.py keeps it equal to
what the templates give: `UPDATE_COST_DOC=1 .venv/bin/python -m pytest tests/pipeline/test_cost.py`
rewrites it). From the API stack's template it reads the function's memory, architecture and
tracing, the stage's access log format, the log groups' retention, and the alarms and metric
filters; from the pipeline's template its CodeBuild projects and their compute types, and how
many environments it deploys. What no template says (how long a request runs, how many
pipeline runs a month...) is an assumption in `ASSUMPTIONS`, stated in the document.

python -m infra.cost API_TEMPLATE [PIPELINE_TEMPLATE]   prints the table for your own cdk.out
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.core import request_log as emf

# When the prices below were read. US East (N. Virginia), on-demand, without the 12-month free
# tier; the always-free allowances are applied. Each names its AWS pricing page; docs/cost.md's
# "Prices" names the stored copy each was read in (AWS's page, or a secondary one where no copy
# of AWS's page shows the figure, said so in its row).
PRICES_AS_OF = "2026-12-07"
LAMBDA_PAGE = "https://aws.amazon.com/lambda/pricing/"
API_GATEWAY_PAGE = "https://aws.amazon.com/api-gateway/pricing/"
CLOUDWATCH_PAGE = "https://aws.amazon.com/cloudwatch/pricing/"
XRAY_PAGE = "https://aws.amazon.com/xray/pricing/"
CODEPIPELINE_PAGE = "https://aws.amazon.com/codepipeline/pricing/"
CODEBUILD_PAGE = "https://aws.amazon.com/codebuild/pricing/"
SECRETS_MANAGER_PAGE = "https://aws.amazon.com/secrets-manager/pricing/"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    page: str


PRICES: dict[str, Price] = {
    "lambda_gb_second_arm64": Price(0.0000133334, "GB-second (arm64, first 7.5 billion)", LAMBDA_PAGE),
    "lambda_gb_second_x86_64": Price(0.0000166667, "GB-second (x86_64, first 6 billion)", LAMBDA_PAGE),
    "lambda_request": Price(0.20 / 1e6, "request", LAMBDA_PAGE),
    "http_api_request": Price(1.00 / 1e6, "request (HTTP API, first 300 million, per 512 KB)", API_GATEWAY_PAGE),
    "logs_ingestion_gb": Price(0.50, "GB ingested (Standard log class)", CLOUDWATCH_PAGE),
    "logs_storage_gb_month": Price(0.03, "GB-month archived", CLOUDWATCH_PAGE),
    "custom_metric_month": Price(0.30, "custom metric-month (first 10,000)", CLOUDWATCH_PAGE),
    "alarm_month": Price(0.10, "standard-resolution alarm metric-month", CLOUDWATCH_PAGE),
    "xray_trace_recorded": Price(5.00 / 1e6, "trace recorded", XRAY_PAGE),
    "codepipeline_action_minute": Price(0.002, "action execution minute (V2 pipeline)", CODEPIPELINE_PAGE),
    "codebuild_minute_BUILD_GENERAL1_SMALL": Price(0.005, "build minute (Linux, general1.small)", CODEBUILD_PAGE),
    "codebuild_minute_BUILD_GENERAL1_MEDIUM": Price(0.01, "build minute (Linux, general1.medium)", CODEBUILD_PAGE),
    "codebuild_minute_BUILD_GENERAL1_LARGE": Price(0.02, "build minute (Linux, general1.large)", CODEBUILD_PAGE),
    "secret_month": Price(0.40, "secret-month", SECRETS_MANAGER_PAGE),
}

# The always-free allowances, per month (each on the page of its price).
FREE = {
    "lambda_gb_seconds": 400_000,
    "lambda_requests": 1_000_000,
    "logs_gb": 5.0,
    "xray_traces": 100_000,
    "codepipeline_action_minutes": 100,
}

ASSUMPTIONS: dict[str, float] = {
    # Billed duration of a warm request, ms. `make bench` measures the service's warm whoami in
    # process at about 0.13 ms on a shared x86 machine, not on Lambda's arm64 at the configured
    # memory, and Lambda bills in 1 ms steps with the runtime's own work around the handler:
    # 10 ms leaves room for a team's routes calling a database.
    "warm_ms": 10.0,
    # A cold start per this many requests, and its billed init, ms (make bench: about 230 ms
    # init here; Lambda's arm64 at 512 MB is slower; Lambda bills the init phase).
    "requests_per_cold_start": 1000.0,
    "init_ms": 600.0,
    # Each $context variable of the access log format renders this many bytes, on average.
    "access_log_value_bytes": 20.0,
    # The function's log per request: the platform's START, END and REPORT lines (REPORT with the
    # X-Ray segment id), about 330 bytes, and the service's own line with its metrics
    # (service/core/request_log.py): 844 bytes for a whoami through the sandbox, as
    # docs/operations.md, "The function's line", shows it written.
    "function_log_bytes_per_request": 1174.0,
    # Archived logs are compressed about this much (CloudWatch bills storage compressed).
    "logs_compression_ratio": 0.15,
    # Pipeline runs a month, and the minutes of each action: the build (make test, then synth),
    # asset publishing, each environment's deployment and its smoke test.
    "pipeline_runs_per_month": 40.0,
    "build_minutes": 16.0,
    "assets_minutes": 3.0,
    "deploy_minutes_per_environment": 4.0,
    "smoke_minutes_per_environment": 1.0,
}
SECONDS_PER_MONTH = 30.4 * 24 * 3600
# X-Ray's default sampling rule: the first request each second, and 5 % of the rest
# (AWS X-Ray Developer Guide, "Sampling rules").
XRAY_RESERVOIR_PER_SECOND = 1.0
XRAY_FIXED_RATE = 0.05
VOLUMES = (1_000_000, 10_000_000, 100_000_000)


@dataclass(frozen=True)
class Row:
    item: str
    per_volume: tuple[float, ...]  # USD at each of VOLUMES
    basis: str


def _resources(template: Mapping[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in template.get("Resources", {}).values() if r["Type"] == resource_type]


def _function(template: Mapping[str, Any]) -> dict[str, Any]:
    # The service's function: the one with the most memory (custom resources' helpers have 128 MB or none).
    functions = _resources(template, "AWS::Lambda::Function")
    return max(functions, key=lambda f: int(f.get("MemorySize", 128)))


def access_log_line_bytes(template: Mapping[str, Any], value_bytes: float) -> float:
    """The stage's access log format with each $context variable at `value_bytes`."""
    stages = [s for s in _resources(template, "AWS::ApiGatewayV2::Stage") if "AccessLogSettings" in s]
    if not stages:
        return 0.0
    log_format = str(stages[0]["AccessLogSettings"].get("Format", ""))
    variables = re.findall(r"\$context\.[\w.]+", log_format)
    return len(re.sub(r"\$context\.[\w.]+", "", log_format)) + len(variables) * value_bytes


def _after_free(quantity: float, free: float) -> float:
    return max(0.0, quantity - free)


def compute(
    api_template: Mapping[str, Any],
    pipeline_template: Mapping[str, Any] | None,
    assumptions: Mapping[str, float] = ASSUMPTIONS,
) -> list[Row]:
    function = _function(api_template)
    memory_gb = int(function.get("MemorySize", 128)) / 1024
    architecture = (function.get("Architectures") or ["x86_64"])[0]
    traced = function.get("TracingConfig", {}).get("Mode") == "Active"
    seconds = (assumptions["warm_ms"] + assumptions["init_ms"] / assumptions["requests_per_cold_start"]) / 1000
    log_line = access_log_line_bytes(api_template, assumptions["access_log_value_bytes"])
    retention_days = max(
        (int(group.get("RetentionInDays", 30)) for group in _resources(api_template, "AWS::Logs::LogGroup")),
        default=30,
    )
    metric_filters = len(_resources(api_template, "AWS::Logs::MetricFilter"))
    # The metrics the function's line carries (embedded metric format): each per-route metric per
    # route, the gateway's routes being the app's, and the unmatched route's `-`; a cold start's
    # per function. Each name and set of dimension values is a custom metric.
    per_route = [name for name in emf.METRICS if name != emf.COLD_START]
    routes = len(_resources(api_template, "AWS::ApiGatewayV2::Route"))
    emf_metrics = len(per_route) * (routes + 1) + 1
    alarms = len(_resources(api_template, "AWS::CloudWatch::Alarm"))

    def per_volume(cost: Any) -> tuple[float, ...]:
        return tuple(float(cost(volume)) for volume in VOLUMES)

    gb_second = PRICES[f"lambda_gb_second_{architecture}"]
    log_gb_per_request = (log_line + assumptions["function_log_bytes_per_request"]) / 1e9
    rows = [
        Row(
            "Lambda compute",
            per_volume(lambda n: _after_free(n * seconds * memory_gb, FREE["lambda_gb_seconds"]) * gb_second.usd),
            f"{function.get('MemorySize', 128)} MB {architecture}, {seconds * 1000:.1f} ms a request: "
            f"${gb_second.usd:.10f} per {gb_second.unit}, 400,000 GB-s free",
        ),
        Row(
            "Lambda requests",
            per_volume(lambda n: _after_free(n, FREE["lambda_requests"]) * PRICES["lambda_request"].usd),
            "$0.20 per million, 1 million free",
        ),
        Row(
            "HTTP API requests",
            per_volume(lambda n: n * PRICES["http_api_request"].usd),
            "$1.00 per million (requests under 512 KB)",
        ),
        Row(
            "CloudWatch Logs ingestion",
            per_volume(
                lambda n: _after_free(n * log_gb_per_request, FREE["logs_gb"]) * PRICES["logs_ingestion_gb"].usd
            ),
            f"access log {log_line:.0f} B + function {assumptions['function_log_bytes_per_request']:.0f} B "
            "a request: $0.50 per GB, 5 GB free",
        ),
        Row(
            "CloudWatch Logs storage",
            per_volume(
                lambda n: (
                    n
                    * log_gb_per_request
                    * assumptions["logs_compression_ratio"]
                    * min(retention_days, 3650)
                    / 30.4
                    * PRICES["logs_storage_gb_month"].usd
                )
            ),
            f"{retention_days} days retained, compressed to {assumptions['logs_compression_ratio']:.0%}: "
            "$0.03 per GB-month",
        ),
        Row(
            "Custom metrics and alarms",
            per_volume(
                lambda n: (
                    (metric_filters + emf_metrics) * PRICES["custom_metric_month"].usd
                    + alarms * PRICES["alarm_month"].usd
                )
            ),
            f"{metric_filters} metric filters and {emf_metrics} metrics of the function's line "
            f"({len(per_route)} for each of {routes} routes and `-`, and cold starts) at $0.30, "
            f"{alarms} alarms at $0.10 a month",
        ),
    ]
    if traced:
        rows.append(
            Row(
                "X-Ray traces",
                per_volume(lambda n: _after_free(_traces(n), FREE["xray_traces"]) * PRICES["xray_trace_recorded"].usd),
                "active tracing, default sampling (1 a second + 5 %): $5.00 per million recorded, 100,000 free",
            )
        )
    if pipeline_template:
        rows.append(_pipeline_row(pipeline_template, assumptions))
    return rows


def _traces(requests: float) -> float:
    reservoir = min(requests, SECONDS_PER_MONTH * XRAY_RESERVOIR_PER_SECOND)
    return reservoir + XRAY_FIXED_RATE * (requests - reservoir)


def _pipeline_row(template: Mapping[str, Any], assumptions: Mapping[str, float]) -> Row:
    projects = _resources(template, "AWS::CodeBuild::Project")
    compute_types = [str(p.get("Environment", {}).get("ComputeType", "BUILD_GENERAL1_SMALL")) for p in projects]
    stages = _resources(template, "AWS::CodePipeline::Pipeline")[0].get("Stages", [])
    # Each environment's stage: one with a CloudFormation deployment action.
    environments = sum(
        any(a.get("ActionTypeId", {}).get("Provider") == "CloudFormation" for a in stage.get("Actions", []))
        for stage in stages
    )
    runs = assumptions["pipeline_runs_per_month"]
    build_type = "BUILD_GENERAL1_MEDIUM" if "BUILD_GENERAL1_MEDIUM" in compute_types else compute_types[0]
    build = assumptions["build_minutes"] * PRICES[f"codebuild_minute_{build_type}"].usd
    small = PRICES["codebuild_minute_BUILD_GENERAL1_SMALL"].usd
    other_build = (assumptions["assets_minutes"] + environments * assumptions["smoke_minutes_per_environment"]) * small
    action_minutes = runs * (
        assumptions["build_minutes"]
        + assumptions["assets_minutes"]
        + environments * (assumptions["deploy_minutes_per_environment"] + assumptions["smoke_minutes_per_environment"])
    )
    pipeline = (
        _after_free(action_minutes, FREE["codepipeline_action_minutes"]) * PRICES["codepipeline_action_minute"].usd
    )
    secrets = environments * PRICES["secret_month"].usd  # each environment's smoke test user
    total = runs * (build + other_build) + pipeline + secrets
    return Row(
        "Pipeline",
        tuple(total for _ in VOLUMES),
        f"{runs:.0f} runs, {environments} environments: CodeBuild ({build_type} build, "
        f"{assumptions['build_minutes']:.0f} min) + CodePipeline V2 action minutes + a smoke user secret each",
    )


def table(rows: list[Row]) -> str:
    header = "| per month | " + " | ".join(f"{volume // 1_000_000} M requests" for volume in VOLUMES) + " | basis |"
    lines = [header, "|---|" + "---:|" * len(VOLUMES) + "---|"]
    for row in rows:
        lines.append(f"| {row.item} | " + " | ".join(f"${v:,.2f}" for v in row.per_volume) + f" | {row.basis} |")
    totals = [sum(row.per_volume[i] for row in rows) for i in range(len(VOLUMES))]
    lines.append("| **Total** | " + " | ".join(f"**${t:,.2f}**" for t in totals) + " | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]]
    if not 1 <= len(paths) <= 2:
        raise SystemExit("usage: python -m infra.cost API_TEMPLATE [PIPELINE_TEMPLATE]")
    templates = [json.loads(path.read_text()) for path in paths]
    print(table(compute(templates[0], templates[1] if len(templates) > 1 else None)), end="")


if __name__ == "__main__":
    main()
