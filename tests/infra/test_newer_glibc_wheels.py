"""A dependency with only `manylinux_2_28` wheels, added by the recipe, reaches the runtimes that load it.

python3.12 and later run on Amazon Linux 2023 (glibc 2.34), python3.11 on Amazon Linux 2
(glibc 2.26): `infra/wheels.py`. The dependency is a wheel this test builds (one per
architecture, each naming its own tag), so PyPI never serves it. Through the recipe
(`make lock-service` with the package in `requirements.in`), then the bundle as the synth
builds it for python3.12 on both architectures (each bundle holds its architecture's wheel),
then imported by that bundle under the runtime client, on this machine's architecture,
through the sandbox. For python3.11 the bundle is refused in one line naming the package and
the runtime, and no wheel ships.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.bundling import REQUIREMENTS_FILE, BundleTarget, BundlingError, build_bundle
from infra.wheels import MACHINES
from sandbox.runtime_client import RuntimeClientError, find_interpreter, host_architecture
from tests.support import ROOT, make_lock_service
from tests.support_sandbox import STACK_TEMPLATE, changed_assembly, function_properties, running_sandbox

pytestmark = pytest.mark.e2e

PACKAGE = "glibcprobe"
VERSION = "1.0"
NEWER_GLIBC = "manylinux_2_28"  # newer than Amazon Linux 2's 2.26, within AL2023's 2.34
RUNTIME_ON_AL2023 = "3.12"
RUNTIME_ON_AL2 = "3.11"
PROBE_HANDLER = "glibc_probe_handler"


def tag_of(architecture: str) -> str:
    return f"{NEWER_GLIBC}_{MACHINES[architecture]}"


def build_wheel(directory: Path, architecture: str) -> Path:
    """A platform wheel of PACKAGE tagged for `architecture` only, whose module says which tag it was built for."""
    tag = tag_of(architecture)
    dist_info = f"{PACKAGE}-{VERSION}.dist-info"
    files = {
        f"{PACKAGE}/__init__.py": f'TAG = "{tag}"\n',
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n",
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\nTag: py3-none-{tag}\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    wheel = directory / f"{PACKAGE}-{VERSION}-py3-none-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheelhouse")
    for architecture in MACHINES:
        build_wheel(directory, architecture)
    return directory


@pytest.fixture
def finds_the_wheels(wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip (the bundle) and uv (make lock) look in the wheelhouse as well as the index."""
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    monkeypatch.setenv("UV_FIND_LINKS", str(wheelhouse))


@pytest.fixture(scope="module")
def service_with_the_dependency(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`service/` after the recipe "Add a runtime dependency": the package in requirements.in, then make lock."""
    service = tmp_path_factory.mktemp("recipe") / "service"
    shutil.copytree(ROOT / "service", service, ignore=shutil.ignore_patterns("__pycache__"))
    with (service / "requirements.in").open("a") as requirements_in:
        requirements_in.write(f"{PACKAGE}=={VERSION}\n")
    make_lock_service(service / "requirements", env={"UV_FIND_LINKS": str(wheelhouse)})
    return service


def bundle(service: Path, python_version: str, architecture: str, into: Path) -> Path:
    build_bundle(
        service_dir=service,
        target=BundleTarget(python_version=python_version, architecture=architecture),
        compiler=None,
        cache_dir=into.parent / "cache",
        output_dir=into,
    )
    return into


def test_the_recipe_pins_the_package(service_with_the_dependency: Path) -> None:
    assert f"{PACKAGE}=={VERSION}" in (service_with_the_dependency / REQUIREMENTS_FILE).read_text().splitlines()


@pytest.mark.usefixtures("finds_the_wheels")
@pytest.mark.parametrize("architecture", sorted(MACHINES))
def test_a_runtime_on_amazon_linux_2023_bundles_the_wheel_of_its_architecture(
    service_with_the_dependency: Path, architecture: str, tmp_path: Path
) -> None:
    asset = bundle(service_with_the_dependency, RUNTIME_ON_AL2023, architecture, tmp_path / "asset")

    assert (asset / PACKAGE / "__init__.py").read_text() == f'TAG = "{tag_of(architecture)}"\n'


@pytest.mark.usefixtures("finds_the_wheels")
def test_python_3_11_refuses_in_one_line_naming_the_package_and_the_runtime(
    service_with_the_dependency: Path, tmp_path: Path
) -> None:
    with pytest.raises(BundlingError) as refused:
        bundle(service_with_the_dependency, RUNTIME_ON_AL2, host_architecture(), tmp_path / "asset")

    message = str(refused.value)
    assert "\n" not in message
    assert f"{PACKAGE}=={VERSION}" in message
    assert f"python{RUNTIME_ON_AL2}" in message
    assert not (tmp_path / "asset" / PACKAGE).exists()


PROBE = f"""
import json
import platform

import {PACKAGE}


def handler(event, context):
    body = {{"tag": {PACKAGE}.TAG, "machine": platform.machine()}}
    return {{"statusCode": 200, "headers": {{"content-type": "application/json"}}, "body": json.dumps(body)}}
"""


@pytest.fixture
def probe_asset(service_with_the_dependency: Path, tmp_path: Path, finds_the_wheels: None) -> Path:
    """The python3.12 bundle for this machine, with a handler that imports the package and says what it loaded."""
    try:
        find_interpreter(RUNTIME_ON_AL2023)
    except RuntimeClientError:
        pytest.skip(f"this machine has no Python {RUNTIME_ON_AL2023} to run the asset with")
    asset = bundle(service_with_the_dependency, RUNTIME_ON_AL2023, host_architecture(), tmp_path / "asset")
    (asset / f"{PROBE_HANDLER}.py").write_text(PROBE)
    return asset


def test_the_asset_imports_it_under_the_runtime_client(
    probe_asset: Path, sandbox_assembly: Path, offline_services: str, tmp_path: Path
) -> None:
    def on_python_3_12_with_the_probe(template: dict[str, Any]) -> None:
        properties = function_properties(template)
        properties["Runtime"] = f"python{RUNTIME_ON_AL2023}"
        properties["Handler"] = f"{PROBE_HANDLER}.handler"

    assembly = changed_assembly(sandbox_assembly, tmp_path / "cdk.out", on_python_3_12_with_the_probe)
    for linked in assembly.glob("asset.*"):
        linked.unlink()
        linked.symlink_to(probe_asset, target_is_directory=True)
    assert (assembly / STACK_TEMPLATE).is_file()

    with running_sandbox(assembly, tmp_path, offline_url=offline_services) as running:
        answer = httpx.get(running.base_url + "/v1/manage/hc", timeout=60)
        log = running.function_log()

    assert answer.status_code == 200, log
    loaded: dict[str, Any] = answer.json()
    assert loaded["tag"] == tag_of(host_architecture())
    assert MACHINES[host_architecture()] == loaded["machine"]
