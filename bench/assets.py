"""What the benchmark imports: the shipped Lambda asset, built for this machine, and the cases.

The asset is built by `infra.bundling.build_bundle`, the code `cdk synth` runs, for this
interpreter's Python version and this machine's architecture, so it carries bytecode exactly
as the deployed one does. A copy without any `__pycache__` shows what the bytecode buys. The
cases (`bench/cases/`) are copied beside it, compiled the same way (or not, for the copy
without bytecode), and Powertools goes into its own directory with pip, from
`bench/requirements.txt`.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import platform
import py_compile
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.bundling import BundleTarget

ROOT = Path(__file__).resolve().parents[1]
CASES_DIR = Path(__file__).resolve().parent / "cases"
REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
BUNDLE_CACHE = ROOT / ".cache" / "lambda-bundle"

HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_ARCHITECTURE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
    platform.machine().lower()
]


@dataclass(frozen=True)
class TreeSize:
    bytes: int
    files: int
    zipped_bytes: int


@dataclass(frozen=True)
class Assets:
    asset: Path  # the Lambda asset, with bytecode, as deployed
    asset_without_bytecode: Path
    cases: Path  # bench/cases, compiled
    cases_without_bytecode: Path
    powertools: Path | None  # None when it could not be installed (no PyPI)


def _compile(tree: Path) -> None:
    """Unchecked-hash bytecode, as the bundle's own (the interpreter never re-validates it)."""
    if not compileall.compile_dir(
        tree, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH, workers=1
    ):
        raise RuntimeError(f"compiling {tree} failed")


def _without_bytecode(source: Path, destination: Path) -> None:
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _host_target() -> BundleTarget:
    """This interpreter and machine as a bundle target; imports infra.bundling on first use."""
    # jsii (imported by infra.bundling) starts Node.js: the venv's own, as `make` puts it first.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    from infra.bundling import BundleTarget  # noqa: PLC0415 - after PATH is set

    target = BundleTarget(python_version=HOST_PYTHON, architecture=HOST_ARCHITECTURE)
    if not target.host_compiles_bytecode:  # pragma: no cover - the target is this interpreter
        raise RuntimeError("the benchmark's asset must be built for the interpreter that runs it")
    return target


def build_asset(output_dir: Path) -> None:
    """The Lambda asset for this machine's Python and architecture, built as `cdk synth` builds it."""
    target = _host_target()
    from infra.bundling import build_bundle  # noqa: PLC0415 - after _host_target set PATH

    shutil.rmtree(output_dir, ignore_errors=True)
    build_bundle(service_dir=ROOT / "service", target=target, cache_dir=BUNDLE_CACHE, output_dir=output_dir)


def install_powertools(into: Path) -> Path | None:
    """Powertools in its own directory, installed as the bundle's dependencies are.

    Reinstalled only when bench/requirements.txt changes.
    """
    target = _host_target()
    from infra.bundling import BundlingError, pip_install  # noqa: PLC0415 - after _host_target set PATH

    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + HOST_PYTHON.encode()).hexdigest()[:16]
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
    _compile(into)
    marker.touch()
    return into


def prepare(work_dir: Path, *, with_powertools: bool = True) -> Assets:
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    asset = work_dir / "asset"
    build_asset(asset)
    asset_without_bytecode = work_dir / "asset-without-bytecode"
    _without_bytecode(asset, asset_without_bytecode)

    cases = work_dir / "cases"
    shutil.rmtree(cases, ignore_errors=True)
    shutil.copytree(CASES_DIR, cases, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py"))
    cases_without_bytecode = work_dir / "cases-without-bytecode"
    _without_bytecode(cases, cases_without_bytecode)
    _compile(cases)

    powertools = install_powertools(work_dir / "powertools") if with_powertools else None
    return Assets(
        asset=asset,
        asset_without_bytecode=asset_without_bytecode,
        cases=cases,
        cases_without_bytecode=cases_without_bytecode,
        powertools=powertools,
    )


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
