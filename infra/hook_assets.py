"""What each CodeDeploy hook's asset holds, and how it is built: never the service bundle.

A hook's asset is a few of this repository's files (whole packages, single modules) plus the
wheels its requirement files resolve to, installed for Lambda's platform the way the service's
are (`infra/wheels.py`), pinned by constraints.txt. Both hooks use the AWS SDK for Python
that Lambda's Python runtimes include (AWS Lambda developer guide, "Building Lambda functions
with Python": the runtime includes boto3), for two long-standing calls (Invoke, and
PutLifecycleEventHookExecutionStatus), so no asset carries boto3 (docs/aws-facts.md, row "SDK in the runtime").

The post hook runs the smoke script: it carries the `smoke` package and what
`smoke/requirements.txt` lists, the generated API client (`./clients/python`, a project of
this repository named by path, whose files count in the asset's hash) included. Another
package of this repository that the script comes to import, not installable by path, is one
more entry in `POST_TRAFFIC.packages`; a package from PyPI goes into smoke/requirements.txt.

The tree is built once per content and kept under the bundle cache; its hash is computed
from the inputs, so an unchanged hook keeps its asset (and the pipeline does not republish it).
No bytecode is compiled: a hook runs once per deployment, and its cold start holds nothing up.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.bundling import _make_readable  # the service bundle's own permissions rule, one place
from infra.wheels import WheelInstallError, cached_tree, install_wheels

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
# Bump when the layout of a hook's asset changes, so every cached tree and hash moves.
HOOK_ASSET_FORMAT = "1"
_EXCLUDED_NAMES = frozenset({"__pycache__", "requirements.txt", "requirements.in", ".DS_Store"})


@dataclass(frozen=True)
class HookAsset:
    """One hook's asset: packages copied whole, single modules, and the wheels of requirement files (repo-relative)."""

    name: str
    handler: str
    packages: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()

    def files(self, root: Path = ROOT) -> Iterator[tuple[Path, str]]:
        """Each file that ships, with its path inside the asset, in a stable order."""
        for module in self.modules:
            yield root / module, module
        for package in self.packages:
            for directory, dirs, names in os.walk(root / package):
                dirs[:] = sorted(d for d in dirs if d not in _EXCLUDED_NAMES and not d.startswith("."))
                for name in sorted(names):
                    if name in _EXCLUDED_NAMES or name.startswith(".") or name.endswith((".pyc", ".pyo")):
                        continue
                    path = Path(directory, name)
                    yield path, path.relative_to(root).as_posix()


# BeforeAllowTraffic: the hook, the project's model of the authorizer's claim rendering, the test user's reader.
PRE_TRAFFIC = HookAsset(
    name="pre-traffic",
    handler="hooks.pre_traffic.handler",
    modules=(
        "hooks/__init__.py",
        "hooks/lifecycle.py",
        "hooks/gateway_events.py",
        "hooks/pre_traffic.py",
        "sandbox/__init__.py",
        "sandbox/claim_text.py",
        "smoke/__init__.py",
        "smoke/user.py",
    ),
)
# AfterAllowTraffic: the hook and the smoke script with its requirements.
POST_TRAFFIC = HookAsset(
    name="post-traffic",
    handler="hooks.post_traffic.handler",
    packages=("smoke",),
    modules=("hooks/__init__.py", "hooks/lifecycle.py", "hooks/post_traffic.py"),
    requirements=("smoke/requirements.txt",),
)


class HookAssetError(Exception):
    """A hook's asset could not be built; the message says what pip reported."""


def local_projects(requirements: Path, root: Path = ROOT) -> list[Path]:
    """The projects a requirements file names by path (`./clients/python`), from the root as pip reads them."""
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return [root / line for line in lines if line.startswith(("./", "../"))]


def hook_asset_hash(asset: HookAsset, *, python_version: str, architecture: str, root: Path = ROOT) -> str:
    """A digest of every input: the files, the requirements, the constraints, the target."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("format", HOOK_ASSET_FORMAT.encode())
    add("target", f"{python_version} {architecture}".encode())
    for path, inside in asset.files(root):
        add(inside, path.read_bytes())
    for requirements in asset.requirements:
        add(f"requirements:{requirements}", (root / requirements).read_bytes())
        # A project of this repository named by path (the generated API client): its files, so
        # that regenerating it builds a new asset instead of reusing the cached one.
        for project in local_projects(root / requirements, root):
            for path in sorted(project.rglob("*.py")):
                if not ({"build", "__pycache__"} & set(path.relative_to(project).parts)):
                    add(f"project:{path.relative_to(root).as_posix()}", path.read_bytes())
    if asset.requirements:
        add("constraints", (root / CONSTRAINTS.name).read_bytes())
    return digest.hexdigest()


def build_hook_asset(
    asset: HookAsset, *, python_version: str, architecture: str, cache_dir: Path, root: Path = ROOT
) -> tuple[Path, str]:
    """The asset's directory (built on the first call, then kept) and its hash."""
    asset_hash = hook_asset_hash(asset, python_version=python_version, architecture=architecture, root=root)

    def build(into: Path) -> None:
        for source, inside in asset.files(root):
            destination = into / inside
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        if asset.requirements:
            # The requirement files together, at the versions the lock pins.
            combined = into.parent / f".{into.name}-requirements.txt"
            lines = [f"-r {root / requirements}" for requirements in asset.requirements]
            combined.write_text("\n".join([*lines, f"-c {root / CONSTRAINTS.name}", ""]))
            try:
                install_wheels(combined, python_version=python_version, architecture=architecture, into=into)
            except WheelInstallError as error:
                message = f"{asset.name} hook: {error}\n(a first synth needs PyPI; later ones use the cache)"
                raise HookAssetError(message) from None
            finally:
                combined.unlink(missing_ok=True)
            shutil.rmtree(into / "bin", ignore_errors=True)
        _make_readable(into)

    directory = cache_dir / f"hook-{asset.name}-{python_version}-{architecture}-{asset_hash[:24]}"
    return cached_tree(directory, build), asset_hash
