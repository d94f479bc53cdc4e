"""What the benchmark imports: the shipped Lambda asset, built here as `cdk synth` builds it, and the cases.

The asset is built by `infra.bundling.build_bundle`, the code `cdk synth` runs, for this
machine's architecture and a Python version: this interpreter's, or another one installed
here (`bench/interpreters.py`), whose interpreter then compiles the bytecode as it would in a
synth. A copy without any `__pycache__` shows what the bytecode buys. The cases
(`bench/cases/`) are copied beside it, compiled by the same interpreter (or not, for the copy
without bytecode), Powertools goes into its own directory with pip, from
`bench/requirements.txt`, and the generated routes of the cost-per-route rows into one
directory per count.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from infra.bytecode import BytecodeCompiler, compile_tree, find_bytecode_compiler

if TYPE_CHECKING:
    from infra.bundling import BundleTarget

ROOT = Path(__file__).resolve().parents[1]
CASES_DIR = Path(__file__).resolve().parent / "cases"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
BUNDLE_CACHE = ROOT / ".cache" / "lambda-bundle"
HEALTH_EVENT = ROOT / "tests" / "events" / "health_named_stage.json"

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_ARCHITECTURE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
    platform.machine().lower()
]

# Where the generated routes live, below the API prefix both apps give them.
GENERATED_PREFIX = "/generated"


@dataclass(frozen=True)
class TreeSize:
    bytes: int
    files: int
    zipped_bytes: int


@dataclass(frozen=True)
class Assets:
    compiler: BytecodeCompiler  # the interpreter the cases run under, which compiled the bytecode
    asset: Path  # the Lambda asset, with bytecode, as deployed
    asset_without_bytecode: Path
    cases: Path  # bench/cases, compiled
    cases_without_bytecode: Path
    powertools: Path | None  # None when left out or not installable (no PyPI)

    @property
    def interpreter(self) -> str:
        """The interpreter itself rather than a venv's link to it: with -I -S nothing of a venv is on sys.path."""
        return os.path.realpath(self.compiler.executable)


@dataclass(frozen=True)
class GeneratedRoutes:
    count: int
    directory: Path  # holds generated_routes.py (and its bytecode)
    event: Path  # a request for the last generated route (health where there is none)


def host_compiler() -> BytecodeCompiler:
    compiler = find_bytecode_compiler(HOST_PYTHON).compiler
    if compiler is None:  # pragma: no cover - this interpreter is always one, unless a pre-release
        raise RuntimeError("this interpreter cannot compile a bundle (a pre-release?): run the benchmark with another")
    return compiler


def _compile(tree: Path, compiler: BytecodeCompiler) -> None:
    """Unchecked-hash bytecode, as the bundle's own (the interpreter never re-validates it)."""
    compile_tree(tree, deployed_at=str(tree), compiler=compiler)


def _without_bytecode(source: Path, destination: Path) -> None:
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _target(compiler: BytecodeCompiler) -> BundleTarget:
    """A bundle target for `compiler`'s Python on this machine; imports infra.bundling on first use."""
    # jsii (imported by infra.bundling) starts Node.js: the venv's own, as `make` puts it first.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    from infra.bundling import BundleTarget  # noqa: PLC0415 - after PATH is set

    return BundleTarget(python_version=compiler.version, architecture=HOST_ARCHITECTURE)


def build_asset(output_dir: Path, compiler: BytecodeCompiler) -> None:
    """The Lambda asset for `compiler`'s Python and this machine's architecture, built as `cdk synth` builds it."""
    target = _target(compiler)
    from infra.bundling import build_bundle  # noqa: PLC0415 - after _target set PATH

    shutil.rmtree(output_dir, ignore_errors=True)
    build_bundle(
        service_dir=ROOT / "service", target=target, compiler=compiler, cache_dir=BUNDLE_CACHE, output_dir=output_dir
    )


def install_powertools(into: Path, compiler: BytecodeCompiler) -> Path | None:
    """Powertools in its own directory, installed as the bundle's dependencies are.

    Reinstalled only when bench/requirements.txt changes.
    """
    target = _target(compiler)
    from infra.bundling import BundlingError, pip_install  # noqa: PLC0415 - after _target set PATH

    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + compiler.bytecode_format.encode()).hexdigest()[:16]
    marker = into / f".installed-{digest}"
    if marker.exists():
        return into
    shutil.rmtree(into, ignore_errors=True)
    try:
        pip_install(REQUIREMENTS, target, into)
    except BundlingError as error:
        print(f"warning: Powertools could not be installed, its rows are left out:\n{error}", file=sys.stderr)
        shutil.rmtree(into, ignore_errors=True)
        return None
    shutil.rmtree(into / "bin", ignore_errors=True)
    _compile(into, compiler)
    marker.touch()
    return into


def prepare(work_dir: Path, compiler: BytecodeCompiler, *, with_powertools: bool = True) -> Assets:
    """The asset and the cases for `compiler`'s Python, under `work_dir`."""
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    asset = work_dir / "asset"
    build_asset(asset, compiler)
    asset_without_bytecode = work_dir / "asset-without-bytecode"
    _without_bytecode(asset, asset_without_bytecode)

    cases = work_dir / "cases"
    shutil.rmtree(cases, ignore_errors=True)
    shutil.copytree(CASES_DIR, cases, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py"))
    cases_without_bytecode = work_dir / "cases-without-bytecode"
    _without_bytecode(cases, cases_without_bytecode)
    _compile(cases, compiler)

    powertools = install_powertools(work_dir / "powertools", compiler) if with_powertools else None
    return Assets(
        compiler=compiler,
        asset=asset,
        asset_without_bytecode=asset_without_bytecode,
        cases=cases,
        cases_without_bytecode=cases_without_bytecode,
        powertools=powertools,
    )


def generated_routes_source(count: int) -> str:
    """A router with `count` routes, each with a path parameter, a query parameter and a response model of its own."""
    lines = [
        f'"""{count} generated routes for the cost-per-route rows of `make bench`."""',
        "",
        "from fastapi import APIRouter",
        "from pydantic import BaseModel",
        "",
        f'router = APIRouter(prefix="{GENERATED_PREFIX}", tags=["generated"])',
    ]
    for index in range(count):
        lines += [
            "",
            "",
            f"class Item{index}(BaseModel):",
            "    id: int",
            "    name: str",
            "    tag: str | None = None",
            "",
            "",
            f'@router.get("/r{index}/{{item_id}}", operation_id="get_r{index}")',
            f"async def get_r{index}(item_id: int, tag: str | None = None) -> Item{index}:",
            f'    """Item {index}, by id."""',
            f'    return Item{index}(id=item_id, name="r{index}", tag=tag)',
        ]
    return "\n".join(lines) + "\n"


def prepare_generated_routes(
    work_dir: Path, counts: tuple[int, ...], compiler: BytecodeCompiler
) -> list[GeneratedRoutes]:
    """One directory per count with `generated_routes.py`, compiled, and an event for its last route."""
    health = json.loads(HEALTH_EVENT.read_text())
    stage = health["requestContext"]["stage"]
    prepared = []
    for count in counts:
        directory = work_dir.resolve() / f"routes-{count}"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        (directory / "generated_routes.py").write_text(generated_routes_source(count))
        _compile(directory, compiler)
        event = HEALTH_EVENT
        if count:
            # Both apps serve the router below /v1: a request any of them must answer with 200.
            path = f"/v1{GENERATED_PREFIX}/r{count - 1}/7"
            request = json.loads(json.dumps(health))
            request["rawPath"] = request["requestContext"]["http"]["path"] = f"/{stage}{path}"
            request["rawQueryString"] = "tag=bench"
            request["routeKey"] = request["requestContext"]["routeKey"] = (
                f"GET /v1{GENERATED_PREFIX}/r{count - 1}/{{item_id}}"
            )
            event = directory / "event.json"
            event.write_text(json.dumps(request))
        prepared.append(GeneratedRoutes(count=count, directory=directory, event=event))
    return prepared


def tree_size(tree: Path) -> TreeSize:
    """Bytes and files unpacked, and the size of the zip Lambda receives (deflate, as CDK zips)."""
    files = sorted(path for path in tree.rglob("*") if path.is_file())
    zipped = tree.with_name(tree.name + ".zip")
    with zipfile.ZipFile(zipped, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(tree).as_posix())
    size = TreeSize(
        bytes=sum(path.stat().st_size for path in files), files=len(files), zipped_bytes=zipped.stat().st_size
    )
    zipped.unlink()
    return size
