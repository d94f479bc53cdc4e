"""The Lambda bundle, built on this machine without Docker.

The bundle is the wheels `service/requirements.txt` resolves to for the target (Lambda's
Linux, the function's Python version and architecture) plus the `service` package, and
nothing else. pip fetches the wheels once per (requirements, Python version, architecture);
the installed and trimmed tree is cached under `.cache/`, so a warm synth copies files and
needs no network. Bytecode is written by an interpreter of the runtime's version, whichever
Python runs the synth (`infra/bytecode.py` finds one), and checked before it ships.

The asset hash is computed here from those inputs (not from the output), so the same
requirements, sources, runtime, architecture and bytecode format always give the same hash,
on any host. Docker bundling stays as CDK's fallback for a host where pip is unavailable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.bytecode import BytecodeCompiler, check_bytecode, compile_tree
from infra.wheels import NoLoadableWheel, WheelInstallError, cached_tree, install_wheels, platform_tags

# Bump when the bundle's layout or trimming changes, so every cached tree and hash moves.
BUNDLE_FORMAT = "5"

# The package that is the service; its requirements file sits inside it.
SERVICE_PACKAGE = "service"
REQUIREMENTS_FILE = "requirements.txt"

# What never ships from the service's sources.
# requirements.in: what `make lock` resolves into REQUIREMENTS_FILE; neither runs in Lambda.
_EXCLUDED_NAMES = frozenset({"__pycache__", "tests", REQUIREMENTS_FILE, "requirements.in", ".DS_Store"})
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")

# What a wheel's .dist-info keeps: the metadata importlib.metadata reads (version lookups,
# entry points) and the licences. RECORD, WHEEL, INSTALLER and the rest go.
_KEPT_DIST_INFO = frozenset({"METADATA", "entry_points.txt"})
_LICENCE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")

# Subpackages of the pinned dependencies that nothing in the function imports, by path.
# pydantic.v1 is Pydantic 1's API kept for migrations; FastAPI imports it only to reject v1
# models and treats its absence as "no v1 models", which saves each cold start the ~20 ms
# of importing it (it is pulled in by the first route with a response or body model).
_UNUSED_SUBPACKAGES = ("pydantic/v1",)

# Where a function's code lives in Lambda: tracebacks name these paths, not the build host's.
LAMBDA_TASK_ROOT = "/var/task"


class BundlingError(Exception):
    """The bundle could not be built; the message says what pip or the copy reported."""


@dataclass(frozen=True)
class BundleTarget:
    """What the bundle must run on."""

    python_version: str  # "3.14"
    architecture: str  # "arm64" or "x86_64"

    @property
    def platform_tag(self) -> str:
        """The newest manylinux tag the runtime's Linux loads (older ones load too)."""
        return platform_tags(self.python_version, self.architecture)[0]


def _bytecode_format(compiler: BytecodeCompiler | None) -> str:
    return "none" if compiler is None else compiler.bytecode_format


def _service_files(service_dir: Path) -> Iterator[Path]:
    """The service's files that ship, in a stable order."""
    for root, dirs, files in os.walk(service_dir):
        dirs[:] = sorted(d for d in dirs if d not in _EXCLUDED_NAMES and not d.startswith("."))
        for name in sorted(files):
            if name in _EXCLUDED_NAMES or name.startswith(".") or name.endswith(_EXCLUDED_SUFFIXES):
                continue
            yield Path(root, name)


def bundle_hash(*, service_dir: Path, target: BundleTarget, compiler: BytecodeCompiler | None) -> str:
    """A digest of every input of the bundle: same inputs, same hash.

    Of the compiler only the bytecode format counts: two hosts that compile with a Python 3.13
    give the same hash, wherever that interpreter lives and whichever Python runs the synth.
    """
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("format", BUNDLE_FORMAT.encode())
    add("target", f"{target.python_version} {target.platform_tag}".encode())
    add("bytecode", _bytecode_format(compiler).encode())
    add("requirements", (service_dir / REQUIREMENTS_FILE).read_bytes())
    for path in _service_files(service_dir):
        add(path.relative_to(service_dir).as_posix(), path.read_bytes())
    return digest.hexdigest()


def _dependencies_key(requirements: bytes, target: BundleTarget, compiler: BytecodeCompiler | None) -> str:
    digest = hashlib.sha256()
    digest.update(f"{BUNDLE_FORMAT}\0{target.python_version}\0{target.platform_tag}\0".encode())
    digest.update(f"bytecode={_bytecode_format(compiler)}\0".encode())
    digest.update(requirements)
    return digest.hexdigest()[:24]


def _trim(site: Path) -> None:
    """Drop what a function never runs: scripts, unused subpackages, caches, tests, stubs, most of .dist-info."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for subpackage in _UNUSED_SUBPACKAGES:
        shutil.rmtree(site / subpackage, ignore_errors=True)
    for path in sorted(site.rglob("*"), reverse=True):
        if path.is_dir() and (path.name == "__pycache__" or (path.name == "tests" and path.parent != site)):
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in {".pyi", ".pyc"}:
            path.unlink()
    for dist_info in site.glob("*.dist-info"):
        for entry in dist_info.iterdir():
            if entry.name in _KEPT_DIST_INFO or entry.name.upper().startswith(_LICENCE_PREFIXES):
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def pip_install(requirements: Path, target: BundleTarget, into: Path) -> None:
    """Wheels for `target` from `requirements` into `into`, as a bundle's dependencies are installed."""
    try:
        install_wheels(requirements, python_version=target.python_version, architecture=target.architecture, into=into)
    except NoLoadableWheel as error:
        raise BundlingError(str(error)) from None
    except WheelInstallError as error:
        raise BundlingError(f"{error}\n(a first synth needs PyPI; later ones use the cache)") from None


def cached_dependencies(
    *, requirements: Path, target: BundleTarget, compiler: BytecodeCompiler | None, cache_dir: Path
) -> Path:
    """The installed, trimmed and (given a compiler) compiled wheels; built on the first call."""
    key = _dependencies_key(requirements.read_bytes(), target, compiler)

    def build(building: Path) -> None:
        pip_install(requirements, target, building)
        _trim(building)
        if compiler is not None:
            compile_tree(building, deployed_at=LAMBDA_TASK_ROOT, compiler=compiler)
            check_bytecode(building, compiler)

    return cached_tree(cache_dir / f"deps-{target.python_version}-{target.architecture}-{key}", build)


def build_bundle(
    *, service_dir: Path, target: BundleTarget, compiler: BytecodeCompiler | None, cache_dir: Path, output_dir: Path
) -> None:
    """Write the bundle into `output_dir`: the wheels at its root, the service package beside them.

    With a compiler, every module's bytecode is checked against the runtime's before it ships.
    """
    dependencies = cached_dependencies(
        requirements=service_dir / REQUIREMENTS_FILE, target=target, compiler=compiler, cache_dir=cache_dir
    )
    shutil.copytree(dependencies, output_dir, dirs_exist_ok=True)
    package_dir = output_dir / SERVICE_PACKAGE
    for source in _service_files(service_dir):
        destination = package_dir / source.relative_to(service_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    if compiler is not None:
        compile_tree(package_dir, deployed_at=f"{LAMBDA_TASK_ROOT}/{SERVICE_PACKAGE}", compiler=compiler)
        check_bytecode(output_dir, compiler)
    _make_readable(output_dir)


def _make_readable(tree: Path) -> None:
    """Lambda runs the code as another user: every directory 755, every file 644, whatever the umask."""
    tree.chmod(0o755)
    for root, dirs, files in os.walk(tree):
        for name in dirs:
            Path(root, name).chmod(0o755)
        for name in files:
            Path(root, name).chmod(0o644)


@jsii.implements(ILocalBundling)
class LocalBundling:
    """CDK's hook for building an asset without Docker."""

    # The last bundle that failed: jsii hands an exception raised in this hook back as a
    # RuntimeError carrying both stacks, so app.py reports this message instead, in its words.
    failure: ClassVar[BundlingError | None] = None

    def __init__(
        self, *, service_dir: Path, target: BundleTarget, compiler: BytecodeCompiler | None, cache_dir: Path
    ) -> None:
        self._service_dir = service_dir
        self._target = target
        self._compiler = compiler
        self._cache_dir = cache_dir

    # jsii passes the bundling options as keywords only if the method declares one.
    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        if importlib.util.find_spec("pip") is None:
            print("pip is unavailable to this interpreter: falling back to Docker bundling", file=sys.stderr)
            return False
        try:
            build_bundle(
                service_dir=self._service_dir,
                target=self._target,
                compiler=self._compiler,
                cache_dir=self._cache_dir,
                output_dir=Path(output_dir),
            )
        except BundlingError as error:
            LocalBundling.failure = error
            raise
        return True


def _docker_command(target: BundleTarget, *, bytecode: bool) -> list[str]:
    """The same build inside the runtime's SAM build image, for a host that cannot build locally.

    The image's Python is the runtime's, so it compiles the bytecode where the hash says there is some.
    """
    platforms = " ".join(f"--platform {tag}" for tag in platform_tags(target.python_version, target.architecture))
    steps = [
        f"pip install --no-compile --target /asset-output {platforms} --implementation cp"
        f" --python-version {target.python_version} --only-binary=:all: --requirement {REQUIREMENTS_FILE}",
        "rm -rf /asset-output/bin " + " ".join(f"/asset-output/{sub}" for sub in _UNUSED_SUBPACKAGES),
        f"mkdir -p /asset-output/{SERVICE_PACKAGE}",
        f"cp -R . /asset-output/{SERVICE_PACKAGE}/",
        f"rm -f /asset-output/{SERVICE_PACKAGE}/{REQUIREMENTS_FILE} /asset-output/{SERVICE_PACKAGE}/requirements.in",
        "find /asset-output -name __pycache__ -prune -exec rm -rf {} +",
    ]
    if bytecode:
        steps.append(
            f"python -m compileall -q --invalidation-mode unchecked-hash -s /asset-output -p {LAMBDA_TASK_ROOT} "
            "/asset-output"
        )
    return ["bash", "-c", " && ".join(steps)]


@dataclass(frozen=True)
class ServiceBundle:
    code: lambda_.Code
    asset_hash: str
    compiler: BytecodeCompiler | None  # None: the bundle ships sources only


def service_bundle(
    *,
    service_dir: Path,
    runtime: lambda_.Runtime,
    target: BundleTarget,
    compiler: BytecodeCompiler | None,
    cache_dir: Path,
) -> ServiceBundle:
    """The function's code: the service and its wheels, bundled locally and hashed from the inputs."""
    asset_hash = bundle_hash(service_dir=service_dir, target=target, compiler=compiler)
    code = lambda_.Code.from_asset(
        str(service_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash,
        bundling=BundlingOptions(
            image=runtime.bundling_image,
            command=_docker_command(target, bytecode=compiler is not None),
            local=LocalBundling(service_dir=service_dir, target=target, compiler=compiler, cache_dir=cache_dir),
        ),
    )
    return ServiceBundle(code=code, asset_hash=asset_hash, compiler=compiler)
