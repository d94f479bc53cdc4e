"""Lambda init and warm latency: every handler in fresh interpreters, rounds interleaved.

Init: each round starts one fresh `python -I -S -B bench/probe.py` per case, in an order
that rotates from round to round, so that noise from the machine falls on every case alike.
It times the import of the handler module (Lambda's init) and then the first call. A case
runs under the interpreter of its asset's Python, which need not be the benchmark's.

Warm: the floor, the service and the minimal FastAPI whoami (a reference) share one fresh
process per round (the same packages from the same asset) and their calls are interleaved in
batches; the other references run the same way in processes of their own. The events are the
real payload 2.0 fixtures of tests/events/.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.assets import HEALTH_EVENT, ROOT, Assets, GeneratedRoutes

PROBE = Path(__file__).resolve().parent / "probe.py"
EVENTS_DIR = ROOT / "tests" / "events"
WHOAMI_EVENT = EVENTS_DIR / "whoami_named_stage.json"
SERVICE_MODULE = "service.runtime.aws_lambda"


def lambda_environment() -> dict[str, str]:
    """What the function gets in Lambda, for the events' stage and issuer (see tests/events)."""
    event = json.loads(WHOAMI_EVENT.read_text())
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_REGION": "eu-west-1",
        "RUNTIME": "LAMBDA",
        "IDENTITY_PROVIDER": "firebase",
        "FIREBASE_APP_API_KEY": "bench-not-a-key",
        "JWT_ISSUER": claims["iss"],
        "JWT_AUDIENCE": claims["aud"],
        "AWS_API_GW_STAGE_NAME": event["requestContext"]["stage"],
        # Set by Lambda in every execution environment, and the trace header by its runtime for each
        # invocation (AWS docs, "Defined runtime environment variables"; awslambdaric's
        # `update_xray_env_variable`): the request's line reads both.
        "AWS_LAMBDA_FUNCTION_NAME": "fastapi-bench",
        "_X_AMZN_TRACE_ID": f"{event['headers']['x-amzn-trace-id']};Parent=53995c3f42cd8ad8;Sampled=0",
    }


@dataclass(frozen=True)
class InitCase:
    key: str
    module: str
    path: tuple[Path, ...]
    interpreter: str
    event: Path = HEALTH_EVENT  # the first call's


@dataclass(frozen=True)
class WarmTarget:
    key: str
    module: str
    event: Path


@dataclass(frozen=True)
class WarmGroup:
    """Handlers measured in one process; the first module is the one the probe imports."""

    modules: tuple[str, ...]
    path: tuple[Path, ...]
    targets: tuple[WarmTarget, ...]
    interpreter: str


def init_cases(assets: Assets) -> list[InitCase]:
    """The service, its floor, both without bytecode, and the references (where Powertools is installed)."""
    python = assets.interpreter
    cases = [
        InitCase("floor", "floor_handler", (assets.asset, assets.cases), python),
        InitCase("service", SERVICE_MODULE, (assets.asset,), python),
        InitCase("floor_frozen", "floor_frozen_handler", (assets.asset, assets.cases), python),
        InitCase(
            "floor_no_bytecode", "floor_handler", (assets.asset_without_bytecode, assets.cases_without_bytecode), python
        ),
        InitCase("service_no_bytecode", SERVICE_MODULE, (assets.asset_without_bytecode,), python),
        InitCase("bare", "bare_handler", (assets.cases,), python),
    ]
    if assets.powertools is not None:
        cases.append(InitCase("powertools", "powertools_handler", (assets.powertools, assets.cases), python))
    return cases


def other_python_cases(assets: Assets) -> list[InitCase]:
    """An asset built here for another Python, run under it: the floor, the service, the service without bytecode."""
    python = assets.interpreter
    return [
        InitCase("floor", "floor_handler", (assets.asset, assets.cases), python),
        InitCase("service", SERVICE_MODULE, (assets.asset,), python),
        InitCase("service_no_bytecode", SERVICE_MODULE, (assets.asset_without_bytecode,), python),
    ]


def route_cases(assets: Assets, routes: list[GeneratedRoutes]) -> list[InitCase]:
    """The floor and the service, each with every count of generated routes; the first call asks the last route."""
    python = assets.interpreter
    cases = []
    for generated in routes:
        for app, module in (("floor", "floor_routes_handler"), ("service", "service_routes_handler")):
            path = (assets.asset, assets.cases, generated.directory)
            cases.append(InitCase(f"{app}+{generated.count}", module, path, python, generated.event))
    return cases


def warm_groups(assets: Assets) -> list[WarmGroup]:
    python = assets.interpreter
    groups = [
        WarmGroup(
            modules=("floor_handler", SERVICE_MODULE, "minimal_whoami_handler"),
            path=(assets.asset, assets.cases),
            targets=(
                WarmTarget("floor/health", "floor_handler", HEALTH_EVENT),
                WarmTarget("service/health", SERVICE_MODULE, HEALTH_EVENT),
                WarmTarget("service/whoami", SERVICE_MODULE, WHOAMI_EVENT),
                WarmTarget("minimal/whoami", "minimal_whoami_handler", WHOAMI_EVENT),
            ),
            interpreter=python,
        ),
        WarmGroup(
            ("bare_handler",), (assets.cases,), (WarmTarget("bare/health", "bare_handler", HEALTH_EVENT),), python
        ),
    ]
    if assets.powertools is not None:
        groups.append(
            WarmGroup(
                ("powertools_handler",),
                (assets.powertools, assets.cases),
                (WarmTarget("powertools/health", "powertools_handler", HEALTH_EVENT),),
                python,
            )
        )
    return groups


def probe(
    mode: str, module: str, path: Sequence[Path], extra: str | None, env: Mapping[str, str], *, interpreter: str
) -> dict[str, Any]:
    command = [interpreter, "-I", "-S", "-B", str(PROBE), mode, module, "handler", ":".join(str(p) for p in path)]
    if extra is not None:
        command.append(extra)
    # The asset as the working directory, as /var/task is in Lambda.
    result = subprocess.run(  # noqa: S603 - fixed argv
        command, capture_output=True, text=True, env=dict(env), cwd=path[0], check=False, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"{module} ({mode}) failed:\n{result.stderr.strip()}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def rotated(items: Sequence[Any], round_index: int) -> list[Any]:
    shift = round_index % len(items)
    return [*items[shift:], *items[:shift]]


def measure_init(cases: Sequence[InitCase], *, rounds: int, label: str = "init") -> dict[str, dict[str, list[float]]]:
    """Per case and metric (init_wall_ms, init_cpu_ms, rss_init_kib, first_call_ms): one value per process."""
    env = lambda_environment()
    samples: dict[str, dict[str, list[float]]] = {}
    for round_index in range(rounds):
        for case in rotated(cases, round_index):
            answer = probe("init", case.module, case.path, str(case.event), env, interpreter=case.interpreter)
            if answer["first_call_status"] != 200:
                raise RuntimeError(
                    f"{case.key}: its first call ({case.event.name}) answered {answer['first_call_status']}"
                )
            for metric in ("init_wall_ms", "init_cpu_ms", "rss_init_kib", "first_call_ms"):
                samples.setdefault(case.key, {}).setdefault(metric, []).append(answer[metric])
        print(f"  {label}: round {round_index + 1}/{rounds}", file=sys.stderr)
    return samples


def measure_warm(assets: Assets, *, rounds: int, warmup: int, batches: int, batch_size: int) -> dict[str, list[float]]:
    """Per target (`case/route`): the median µs of a call, one value per process."""
    env = lambda_environment()
    samples: dict[str, list[float]] = {}
    for round_index in range(rounds):
        for group in rotated(warm_groups(assets), round_index):
            spec = {
                "more_modules": list(group.modules[1:]),
                "targets": [{"key": t.key, "module": t.module, "event": str(t.event)} for t in group.targets],
                "warmup": warmup,
                "batches": batches,
                "batch_size": batch_size,
            }
            answer = probe("warm", group.modules[0], group.path, json.dumps(spec), env, interpreter=group.interpreter)
            for key, micros in answer["per_call_us"].items():
                samples.setdefault(key, []).append(micros)
        print(f"  warm: round {round_index + 1}/{rounds}", file=sys.stderr)
    return samples


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}
