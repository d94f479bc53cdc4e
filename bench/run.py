"""`make bench`: the shipped Lambda asset against its floor, the local server against a hello world.

The local server's whoami is held against a minimal FastAPI whoami (at least 0.9 of it), the
least FastAPI itself does for a Security dependency, not against the hello world.

Builds the asset for this machine's Python (as `cdk synth` builds it), and for every other
Lambda runtime's Python installed here an asset built by this same synth code with that
interpreter compiling the bytecode, the asset a user deploys from a machine whose Python is
not the runtime's; runs every case several times in fresh processes with the rounds
interleaved, under the Python of its asset; measures what each route costs at init with
generated routes; prints one table (median, min, max, ratio to the floor, target), writes
it as JSON to bench/results/latest.json and, with the machine, into docs/performance.md's
marked section (bench/report.py). Ratios compare figures measured in this run only.
Timing never runs in `make test`; its smoke test runs these code paths once with tiny counts
(`--quick`).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import lambda_cases, load, report
from bench.assets import (
    HOST_ARCHITECTURE,
    HOST_PYTHON,
    ROOT,
    Assets,
    host_compiler,
    prepare,
    prepare_generated_routes,
    tree_size,
)
from bench.interpreters import other_runtime_pythons

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
WORK_DIR = ROOT / ".bench"


@dataclass(frozen=True)
class Counts:
    init_rounds: int = 25
    other_python_rounds: int = 15
    route_rounds: int = 15
    route_counts: tuple[int, ...] = (0, 50, 200)
    warm_rounds: int = 5
    warmup_calls: int = 300
    batches: int = 20
    batch_size: int = 100
    local_rounds: int = 5
    load_rounds: int = 11
    load_seconds: float = 2.0
    load_warmup_seconds: float = 2.0


QUICK = Counts(
    init_rounds=1,
    other_python_rounds=1,
    route_rounds=1,
    route_counts=(0, 1, 2),
    warm_rounds=1,
    warmup_calls=2,
    batches=2,
    batch_size=3,
    local_rounds=1,
    load_rounds=1,
    load_seconds=1.0,
    load_warmup_seconds=0.5,
)


@dataclass(frozen=True)
class Row:
    section: str
    label: str
    unit: str
    median: float
    min: float
    max: float
    n: int
    ratio: float | None = None  # to the section's floor: the median of the per-round ratios
    target: str | None = None  # e.g. "<= 1.15"
    met: bool | None = None
    note: str = ""


def stats(values: Sequence[float]) -> tuple[float, float, float, int]:
    return statistics.median(values), min(values), max(values), len(values)


def paired_ratio(values: Sequence[float], floor: Sequence[float]) -> float | None:
    """The median of the per-round ratios; None where no round has a reference above zero.

    Every round runs each case once, back to back (or in one process), so the two figures of
    a round's ratio met the same conditions; on a shared machine that is far steadier than a
    ratio of medians taken across rounds. The samples are in round order.

    A reference can be zero: the server's CPU time comes from /proc in clock ticks (10 ms), so
    a short run on a busy machine can spend none that is counted, and a cost per route is a
    difference of two noisy figures. A ratio to nothing is not a figure: such rounds are left
    out, and with none left the ratio is None, shown as "n/a" (a target on it is not judged).
    """
    if len(values) != len(floor):
        reference = statistics.median(floor)
        return statistics.median(values) / reference if reference > 0 else None
    ratios = [value / reference for value, reference in zip(values, floor, strict=True) if reference > 0]
    return statistics.median(ratios) if ratios else None


def format_ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}"


def ratio_cell(r: Row) -> str:
    """Three decimals where a target is judged, so that "0.90 MISSED" cannot happen."""
    if r.ratio is None:
        return "n/a" if r.target else ""
    return f"{r.ratio:.3f}" if r.target else f"{r.ratio:.2f}"


def row(
    section: str,
    label: str,
    unit: str,
    values: Sequence[float],
    *,
    floor: Sequence[float] | None = None,
    at_most: float | None = None,
    at_least: float | None = None,
    note: str = "",
) -> Row:
    median, low, high, n = stats(values)
    ratio = paired_ratio(values, floor) if floor else None
    target: str | None = None
    met: bool | None = None
    if at_most is not None:
        target, met = f"<= {at_most:.2f}", None if ratio is None else ratio <= at_most
    if at_least is not None:
        target, met = f">= {at_least:.2f}", None if ratio is None else ratio >= at_least
    return Row(section, label, unit, median, low, high, n, ratio, target, met, note)


def machine() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("fastapi", "starlette", "mangum", "pydantic", "pydantic-core", "uvicorn"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    wrk_version = None
    if load.load_generator() == "wrk":
        answer = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
        wrk_version = (answer.stdout or answer.stderr).strip().splitlines()[0]
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "architecture": HOST_ARCHITECTURE,
        "system": f"{platform.system()} {platform.release()}",
        "load_generator": wrk_version or "python (asyncio, keep-alive)",
        "packages": versions,
        "load_average_at_start": list(os.getloadavg()),
    }


def lambda_rows(assets: Assets, counts: Counts) -> tuple[list[Row], dict[str, Any]]:
    init = lambda_cases.measure_init(lambda_cases.init_cases(assets), rounds=counts.init_rounds)
    warm = lambda_cases.measure_warm(
        assets,
        rounds=counts.warm_rounds,
        warmup=counts.warmup_calls,
        batches=counts.batches,
        batch_size=counts.batch_size,
    )

    def wall(key: str) -> list[float]:
        return init[key]["init_wall_ms"]

    section = "Lambda init: import of the handler module in a fresh interpreter (ms)"
    floor = wall("floor")
    rows = [
        row(section, "floor: FastAPI + Mangum hello world", "ms", floor, floor=floor),
        row(section, "service (service.runtime.aws_lambda)", "ms", wall("service"), floor=floor, at_most=1.05),
        row(
            section,
            "floor with the service's init GC step",
            "ms",
            wall("floor_frozen"),
            floor=floor,
            note=f"like for like: service / this = {format_ratio(paired_ratio(wall('service'), wall('floor_frozen')))}",
        ),
        row(section, "floor, asset without bytecode", "ms", wall("floor_no_bytecode"), floor=floor),
        row(
            section,
            "service, asset without bytecode",
            "ms",
            wall("service_no_bytecode"),
            floor=floor,
            note="bytecode saves "
            f"{statistics.median(wall('service_no_bytecode')) - statistics.median(wall('service')):.0f} ms",
        ),
    ]
    if "powertools" in init:
        rows.append(
            row(section, "Powertools APIGatewayHttpResolver hello world", "ms", wall("powertools"), floor=floor)
        )
    rows.append(row(section, "bare handler returning JSON", "ms", wall("bare"), floor=floor))

    section = "Cold start as felt: init + first health call (ms)"
    felt = {key: [a + b for a, b in zip(v["init_wall_ms"], v["first_call_ms"], strict=True)] for key, v in init.items()}
    for key, label in (("floor", "floor"), ("service", "service"), ("powertools", "Powertools"), ("bare", "bare")):
        if key in felt:
            first = statistics.median(init[key]["first_call_ms"])
            rows.append(
                row(section, label, "ms", felt[key], floor=felt["floor"], note=f"first call alone {first:.1f} ms")
            )

    section = "Warm latency in process: one invocation after warm-up (µs)"
    floor = warm["floor/health"]
    minimal = warm["minimal/whoami"]
    rows += [
        row(section, "floor health", "µs", floor, floor=floor),
        row(section, "service health", "µs", warm["service/health"], floor=floor, at_most=1.5),
        row(section, "service whoami, flattened claims", "µs", warm["service/whoami"], floor=floor, at_most=1.5),
        row(section, "reference: minimal FastAPI whoami", "µs", minimal, floor=floor),
        # Issue 32: the service's whoami, its request line and metrics written, against the least a
        # FastAPI whoami can do (which writes nothing).
        row(
            section,
            "service whoami (line, metrics), to the minimal FastAPI whoami",
            "µs",
            warm["service/whoami"],
            floor=minimal,
            at_most=1.15,
        ),
    ]
    if "powertools/health" in warm:
        rows.append(row(section, "Powertools health", "µs", warm["powertools/health"], floor=floor))
    rows.append(row(section, "bare handler", "µs", warm["bare/health"], floor=floor))

    section = "Peak RSS after init (MiB)"
    floor = [kib / 1024 for kib in init["floor"]["rss_init_kib"]]
    for key, label in (
        ("floor", "floor"),
        ("service", "service"),
        ("powertools", "Powertools hello world"),
        ("bare", "bare handler"),
    ):
        if key in init:
            rows.append(row(section, label, "MiB", [kib / 1024 for kib in init[key]["rss_init_kib"]], floor=floor))
    return rows, {"init": init, "warm": warm}


def other_python_rows(assets: Assets, counts: Counts) -> tuple[list[Row], dict[str, Any]]:
    """(a) An asset built here for another Python, as a synth on this machine builds it, run under that Python."""
    version = assets.compiler.version
    init = lambda_cases.measure_init(
        lambda_cases.other_python_cases(assets), rounds=counts.other_python_rounds, label=f"python{version}"
    )

    def wall(key: str) -> list[float]:
        return init[key]["init_wall_ms"]

    def rss(key: str) -> str:
        return f"peak RSS {statistics.median(init[key]['rss_init_kib']) / 1024:.1f} MiB"

    section = (
        f"Lambda init, python{version} asset synthesized by Python {HOST_PYTHON} (bytecode by "
        f"{assets.compiler.executable}), run under {version} (ms)"
    )
    floor = wall("floor")
    saved = statistics.median(wall("service_no_bytecode")) - statistics.median(wall("service"))
    rows = [
        row(section, f"floor, python{version}", "ms", floor, floor=floor, note=rss("floor")),
        row(
            section, f"service, python{version}", "ms", wall("service"), floor=floor, at_most=1.15, note=rss("service")
        ),
        row(
            section,
            f"service, python{version} asset without bytecode",
            "ms",
            wall("service_no_bytecode"),
            floor=floor,
            note=f"what such a synth shipped before; bytecode saves {saved:.0f} ms",
        ),
    ]
    return rows, {"python": version, "compiler": assets.compiler.executable, "init": init}


def per_route(values: Sequence[float], base: Sequence[float], routes: int) -> list[float]:
    """Per round: what each of `routes` routes added to `base`."""
    return [(value - reference) / routes for value, reference in zip(values, base, strict=True)]


# (metric, unit, scale from the probe's unit, per-route unit, per-route scale, what it is)
ROUTE_METRICS = (
    ("init_wall_ms", "ms", 1.0, "ms", 1.0, "Lambda init, wall time"),
    ("init_cpu_ms", "ms", 1.0, "ms", 1.0, "Lambda init, CPU time"),
    ("rss_init_kib", "MiB", 1024.0, "KiB", 1.0, "Peak RSS after init"),
)


def route_rows(assets: Assets, work_dir: Path, counts: Counts) -> tuple[list[Row], dict[str, Any]]:
    """(b) Init and peak RSS with generated routes, the service against the floor with the same routes.

    Each count's row of the service is held to its floor with as many routes, as the init row is
    (1.15); the cost per route, to FastAPI's own (at most 10 % more), in CPU time: on a shared
    machine the wall time of one process also counts the others', which a difference of two
    such figures magnifies, while the CPU time it spends itself is what a Lambda init spends.
    """
    routes = prepare_generated_routes(work_dir, counts.route_counts, assets.compiler)
    init = lambda_cases.measure_init(
        lambda_cases.route_cases(assets, routes), rounds=counts.route_rounds, label="generated routes"
    )
    fewest = min(counts.route_counts)
    # The cost per route between the two largest counts: the first route with a response model
    # also imports what every such route needs, once, which the service's own routes already
    # paid for and the hello world has not.
    start, most = sorted(counts.route_counts)[-2:]

    def samples(app: str, count: int, metric: str, scale: float) -> list[float]:
        return [value / scale for value in init[f"{app}+{count}"][metric]]

    rows: list[Row] = []
    for metric, unit, scale, per_unit, per_scale, title in ROUTE_METRICS:
        section = (
            f"{title} with generated routes (a path parameter, a query parameter, a response model each), "
            f"the service against the floor with the same routes ({unit})"
        )
        # The floor's rows against the floor without extra routes; the service's against the floor with as many.
        for count in counts.route_counts:
            values = samples("floor", count, metric, scale)
            reference = samples("floor", fewest, metric, scale)
            rows.append(row(section, f"floor + {count} routes", unit, values, floor=reference))
        for count in counts.route_counts:
            rows.append(
                row(
                    section,
                    f"service + {count} routes",
                    unit,
                    samples("service", count, metric, scale),
                    floor=samples("floor", count, metric, scale),
                    at_most=1.15 if metric == "init_wall_ms" else None,
                    note=f"to the floor + {count} routes",
                )
            )
        floor_cost, service_cost = (
            per_route(samples(app, most, metric, per_scale), samples(app, start, metric, per_scale), most - start)
            for app in ("floor", "service")
        )
        label = f"({start} to {most} routes, {per_unit})"
        rows += [
            row(section, f"per route, floor {label}", f"{per_unit}/route", floor_cost, floor=floor_cost),
            row(
                section,
                f"per route, service {label}",
                f"{per_unit}/route",
                service_cost,
                floor=floor_cost,
                at_most=1.10 if metric == "init_cpu_ms" else None,
                note="ratio: the service's cost per route to FastAPI's own",
            ),
        ]
    return rows, {"counts": list(counts.route_counts), "init": init}


def local_rows(work_dir: Path, cases_dir: Path, counts: Counts) -> tuple[list[Row], dict[str, list[float]]]:
    spec = json.dumps({"warmup": counts.warmup_calls, "batches": counts.batches, "batch_size": counts.batch_size})
    samples: dict[str, list[float]] = {}
    for index in range(counts.local_rounds):
        answer = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "bench.local_asgi", str(work_dir / "local-idp-key.pem"), str(cases_dir), spec],
            cwd=ROOT,
            env=load.clean_environment(),
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        for key, micros in json.loads(answer.stdout.strip().splitlines()[-1]).items():
            samples.setdefault(key, []).append(micros)
        print(f"  LOCAL in process: round {index + 1}/{counts.local_rounds}", file=sys.stderr)
    section = "RUNTIME=LOCAL in process, ASGI call (µs)"
    health = statistics.median(samples["health"])

    def added(key: str) -> str:
        return f"adds {statistics.median(samples[key]) - health:.0f} µs to health"

    rows = [
        row(section, "floor health", "µs", samples["floor_health"], floor=samples["floor_health"]),
        row(section, "health", "µs", samples["health"], floor=samples["floor_health"]),
        row(
            section,
            "whoami, same token each call (verified once)",
            "µs",
            samples["whoami"],
            floor=samples["floor_health"],
            note=added("whoami"),
        ),
        row(
            section,
            "whoami, new token each call (RS256, cached keys)",
            "µs",
            samples["whoami_new_token"],
            floor=samples["floor_health"],
            note=added("whoami_new_token"),
        ),
    ]
    return rows, samples


def server_rows(work_dir: Path, cases_dir: Path, counts: Counts) -> tuple[list[Row], dict[str, Any]]:
    rates, cpu = load.measure_servers(
        work_dir / "load",
        cases_dir,
        rounds=counts.load_rounds,
        seconds=counts.load_seconds,
        warmup_seconds=counts.load_warmup_seconds,
    )
    section = (
        f"Local server: uvicorn, 1 worker, access log on, {load.CONNECTIONS} connections, "
        f"{load.load_generator()} (requests/s)"
    )
    floor = rates["floor/health"]
    same_request = rates["floor/health_with_token"]
    whoami_to_floor = paired_ratio(rates["service/whoami"], floor)
    whoami_to_same = paired_ratio(rates["service/whoami"], same_request)
    rows = [
        row(section, "floor hello world health", "req/s", floor, floor=floor),
        row(
            section,
            "floor, same request as whoami (token header)",
            "req/s",
            same_request,
            floor=floor,
            note="the floor for whoami's row",
        ),
        row(section, "service health", "req/s", rates["service/health"], floor=floor, at_least=0.9),
        # Held against the least a FastAPI whoami can do (issue 23), not the hello world: what
        # FastAPI itself costs for a Security dependency is no fault of the service's.
        row(
            section,
            "service whoami (RS256 token), to the minimal FastAPI whoami",
            "req/s",
            rates["service/whoami"],
            floor=rates["minimal/whoami"],
            at_least=0.9,
            note=(
                f"to the floor with the token header: {format_ratio(whoami_to_same)}; "
                f"without it: {format_ratio(whoami_to_floor)}"
            ),
        ),
        row(
            section,
            "reference: minimal FastAPI whoami",
            "req/s",
            rates["minimal/whoami"],
            floor=same_request,
            note="the floor for the service whoami's row",
        ),
        row(section, "bare ASGI app", "req/s", rates["bare/health"], floor=floor),
    ]
    section = "Local server, the same runs: the server's CPU time per request (µs)"
    labels = {
        "floor/health": "floor hello world health",
        "floor/health_with_token": "floor, same request as whoami (token header)",
        "service/health": "service health",
        "service/whoami": "service whoami (RS256 token)",
        "minimal/whoami": "reference: minimal FastAPI whoami",
        "bare/health": "bare ASGI app",
    }
    for key, label in labels.items():
        with_token = key in ("service/whoami", "minimal/whoami")
        reference = cpu["floor/health_with_token"] if with_token else cpu["floor/health"]
        rows.append(row(section, label, "µs", cpu[key], floor=reference))
    return rows, {"requests_per_second": rates, "cpu_us_per_request": cpu}


def size_rows(assets: Assets) -> tuple[list[Row], dict[str, Any]]:
    section = "Lambda asset (built by infra.bundling for this machine)"
    sizes = {"asset": tree_size(assets.asset), "asset_without_bytecode": tree_size(assets.asset_without_bytecode)}
    rows = []
    for key, label in (("asset", "with bytecode (as shipped)"), ("asset_without_bytecode", "without bytecode")):
        size = sizes[key]
        mib = size.bytes / 2**20
        rows.append(
            Row(
                section,
                label,
                "MiB",
                mib,
                mib,
                mib,
                1,
                note=f"{size.files} files, zip {size.zipped_bytes / 2**20:.1f} MiB",
            )
        )
    return rows, {key: asdict(size) for key, size in sizes.items()}


def format_number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(rows: Sequence[Row]) -> str:
    label_width = max(len(r.label) for r in rows) + 2
    header = f"{'':{label_width}}{'median':>9}{'min':>9}{'max':>9}{'ratio':>8}  target"
    lines: list[str] = []
    section = None
    for r in rows:
        if r.section != section:
            section = r.section
            lines += ["", section, header]
        ratio = ratio_cell(r)
        verdict = ""
        if r.target is not None:
            verdict = f"{r.target} {'n/a' if r.met is None else 'ok' if r.met else 'MISSED'}"
        line = (
            f"  {r.label:<{label_width - 2}}{format_number(r.median):>9}{format_number(r.min):>9}"
            f"{format_number(r.max):>9}{ratio:>8}  {verdict:<16}{r.note}"
        )
        lines.append(line.rstrip())
    return "\n".join(lines[1:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny counts: the smoke test's run, not a measurement")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help=f"built assets and logs (default {WORK_DIR})")
    parser.add_argument(
        "--doc",
        type=Path,
        default=None,
        help=f"the page whose marked section gets the figures (default {report.PERFORMANCE_DOC}; none for --quick)",
    )
    parser.add_argument("--no-powertools", action="store_true", help="leave out the Powertools rows (no PyPI)")
    parser.add_argument(
        "--other-python",
        action="append",
        metavar="3.X",
        help="the other Python versions to build and run an asset for (default: every Lambda runtime's installed here)",
    )
    args = parser.parse_args(argv)
    counts = QUICK if args.quick else Counts()
    work_dir: Path = args.work_dir.resolve()

    started = datetime.datetime.now(datetime.UTC)
    description = machine()
    print(
        f"Machine: {description['nproc']} CPUs ({description['cpu_model']}), Python {description['python']} "
        f"{description['architecture']}, load average {description['load_average_at_start'][0]:.2f}",
        file=sys.stderr,
    )
    print("Building the Lambda asset for this machine's Python ...", file=sys.stderr)
    assets = prepare(work_dir, host_compiler(), with_powertools=not args.no_powertools)
    others = [
        compiler
        for compiler in other_runtime_pythons(HOST_PYTHON)
        if args.other_python is None or compiler.version in args.other_python
    ]
    print(
        f"Other Pythons installed here: {', '.join(f'{c.version} ({c.executable})' for c in others) or 'none'}",
        file=sys.stderr,
    )
    other_assets = []
    for compiler in others:
        print(f"Building the Lambda asset for python{compiler.version} with {compiler.executable} ...", file=sys.stderr)
        other_assets.append(prepare(work_dir / f"python{compiler.version}", compiler, with_powertools=False))

    rows, raw_lambda = lambda_rows(assets, counts)
    raw_other = []
    for other in other_assets:
        rows_other, raw = other_python_rows(other, counts)
        rows += rows_other
        raw_other.append(raw)
    rows_routes, raw_routes = route_rows(assets, work_dir, counts)
    rows_local, raw_local = local_rows(work_dir, assets.cases, counts)
    rows_server, raw_server = server_rows(work_dir, assets.cases, counts)
    rows_size, sizes = size_rows(assets)
    rows += rows_routes + rows_local + rows_server + rows_size
    description["load_average_at_end"] = list(os.getloadavg())

    table = render(rows)
    print(table)
    missed = [r for r in rows if r.met is False]
    result = {
        "started": started.isoformat(timespec="seconds"),
        "duration_seconds": round((datetime.datetime.now(datetime.UTC) - started).total_seconds()),
        "quick": args.quick,
        "machine": description,
        "target": {"python": HOST_PYTHON, "architecture": HOST_ARCHITECTURE},
        "counts": asdict(counts),
        "rows": [asdict(r) for r in rows],
        "missed": [f"{r.section}: {r.label}" for r in missed],
        "asset": sizes,
        "other_pythons": [{"python": c.version, "executable": c.executable} for c in others],
        "samples": {
            "lambda": raw_lambda,
            "other_pythons": raw_other,
            "generated_routes": raw_routes,
            "local_in_process": raw_local,
            "local_server": raw_server,
        },
        "table": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\nResults written to {args.out}", file=sys.stderr)
    # A --quick run's figures mean nothing: they reach a page only when the run names one.
    doc: Path | None = args.doc if args.doc is not None or args.quick else report.PERFORMANCE_DOC
    if doc is not None:
        report.write_section(doc, report.figures_markdown(result))
        print(f"Figures written into {doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
