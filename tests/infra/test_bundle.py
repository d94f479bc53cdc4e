"""The Lambda bundle: the service and its wheels for the target, nothing else, hashed from its inputs."""

from __future__ import annotations

import importlib.util
import marshal
import re
import shutil
from pathlib import Path

import pytest

from infra.bundling import BundleTarget, bundle_hash
from infra.bytecode import RUNTIME_MAGIC_NUMBERS, BytecodeCompiler, find_bytecode_compiler
from tests.infra.conftest import ROOT, Synthesized

SERVICE_DIR = ROOT / "service"
# ELF e_machine values: what a native extension was built for.
ELF_MACHINE = {"arm64": 183, "x86_64": 62}


def requirement_names() -> set[str]:
    names = set()
    for line in (SERVICE_DIR / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.add(re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0].lower().replace("-", "_"))
    return names


def shipped_distributions(asset: Path) -> set[str]:
    return {p.name.split("-", 1)[0].lower() for p in asset.glob("*.dist-info")}


def elf_machine(shared_object: Path) -> int:
    header = shared_object.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    return int.from_bytes(header[18:20], "little")


def test_the_bundle_holds_the_requirements_and_the_service(default_synth: Synthesized) -> None:
    asset = default_synth.asset_dir

    assert requirement_names() <= shipped_distributions(asset)
    assert (asset / "service" / "runtime" / "aws_lambda.py").is_file()
    shipped = {p.relative_to(asset / "service") for p in (asset / "service").rglob("*.py")}
    sources = {
        p.relative_to(SERVICE_DIR) for p in SERVICE_DIR.rglob("*.py") if not {"__pycache__", "tests"} & set(p.parts)
    }
    assert shipped == sources


def test_the_bundle_holds_nothing_else(default_synth: Synthesized, host_synth: Synthesized) -> None:
    for asset in (default_synth.asset_dir, host_synth.asset_dir):
        top_level = {p.name for p in asset.iterdir()}
        assert not {"bin", "pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources", "tests"} & top_level
        # The sandbox and its runtime client are development tooling: Lambda brings its own. The
        # smoke script tests a deployed API from outside, in the pipeline: never from inside it.
        assert not {"sandbox", "smoke", "awslambdaric", "runtime_client", "simplejson"} & {
            name.split(".")[0] for name in top_level
        }
        # SnapStart's hooks module is the managed runtime's own.
        assert not {"snapshot_restore_py.py", "snapshot_restore_py"} & top_level
        assert not (asset / "service" / "requirements.txt").exists()
        assert not (asset / "service" / "requirements.in").exists()
        assert not [p for p in asset.rglob("tests") if p.is_dir()]
        # Pydantic 1's compatibility API: FastAPI imports it only to reject v1 models.
        assert (asset / "pydantic").is_dir()
        assert not (asset / "pydantic" / "v1").exists()
        assert not list(asset.rglob("*.pyi"))
        for dist_info in asset.glob("*.dist-info"):
            kept = {p.name for p in dist_info.iterdir()}
            assert kept <= {"METADATA", "entry_points.txt"} | {n for n in kept if n.upper().startswith("LICEN")}


def test_lambda_can_read_every_file(default_synth: Synthesized) -> None:
    # Lambda runs the function as a user that owns nothing in the bundle.
    asset = default_synth.asset_dir
    modes = {(p.is_dir(), p.stat().st_mode & 0o777) for p in [asset, *asset.rglob("*")]}

    assert modes == {(True, 0o755), (False, 0o644)}


def test_native_code_is_built_for_the_functions_architecture(
    default_synth: Synthesized, custom_synth: Synthesized
) -> None:
    for synth, architecture in [(default_synth, "arm64"), (custom_synth, "x86_64")]:
        (extension,) = synth.asset_dir.glob("pydantic_core/_pydantic_core*.so")
        assert elf_machine(extension) == ELF_MACHINE[architecture]
        assert "cpython-314" in extension.name


def test_bytecode_wherever_an_interpreter_of_the_runtimes_version_was_found(
    default_synth: Synthesized, host_synth: Synthesized
) -> None:
    tag = importlib.util.cache_from_source("x.py").split(".")[-2]  # e.g. cpython-311

    # The default runtime is python3.14: its bundle has bytecode where this machine has a 3.14.
    default_pyc = {p.name.split(".")[-2] for p in default_synth.asset_dir.rglob("*.pyc")}
    assert default_pyc == ({"cpython-314"} if find_bytecode_compiler("3.14").compiler else set())
    host_pyc = {p.name.split(".")[-2] for p in host_synth.asset_dir.rglob("*.pyc")}
    assert host_pyc == {tag}


def test_service_bytecode_is_unchecked_and_names_lambdas_paths(host_synth: Synthesized) -> None:
    module = host_synth.asset_dir / "service" / "app.py"
    pyc = Path(importlib.util.cache_from_source(str(module)))

    data = pyc.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, source never re-checked: no mtimes inside
    assert marshal.loads(data[16:]).co_filename  # noqa: S302 - our own bytecode == "/var/task/service/app.py"


def copy_of_service(tmp_path: Path) -> Path:
    copy = tmp_path / "service"
    shutil.copytree(SERVICE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


ARM = BundleTarget(python_version="3.14", architecture="arm64")


def compiler_of(version: str, *, executable: str) -> BytecodeCompiler:
    """What the search reports for an interpreter of `version` at `executable`."""
    magic = RUNTIME_MAGIC_NUMBERS[version].to_bytes(2, "little") + b"\r\n"
    tag = "cpython-" + version.replace(".", "")
    return BytecodeCompiler(executable=executable, version=version, cache_tag=tag, magic_number=magic, found_by="PATH")


def test_the_hash_follows_sources_requirements_and_target(tmp_path: Path) -> None:
    service = copy_of_service(tmp_path)
    before = bundle_hash(service_dir=service, target=ARM, compiler=None)

    assert bundle_hash(service_dir=service, target=ARM, compiler=None) == before
    assert bundle_hash(service_dir=service, target=BundleTarget("3.14", "x86_64"), compiler=None) != before
    assert bundle_hash(service_dir=service, target=BundleTarget("3.13", "arm64"), compiler=None) != before
    (service / "app.py").write_text((service / "app.py").read_text() + "\n# changed\n")
    after_source = bundle_hash(service_dir=service, target=ARM, compiler=None)
    assert after_source != before
    (service / "requirements.txt").write_text((service / "requirements.txt").read_text() + "idna\n")
    assert bundle_hash(service_dir=service, target=ARM, compiler=None) not in {before, after_source}


def test_the_hash_follows_the_bytecodes_python_not_the_host_or_its_path(tmp_path: Path) -> None:
    service = copy_of_service(tmp_path)
    target = BundleTarget("3.13", "arm64")
    laptop = compiler_of("3.13", executable="/usr/local/bin/python3.13")
    ci = compiler_of("3.13", executable="/root/.local/share/uv/python/cpython-3.13.9/bin/python3.13")

    with_bytecode = bundle_hash(service_dir=service, target=target, compiler=laptop)

    assert bundle_hash(service_dir=service, target=target, compiler=ci) == with_bytecode
    assert bundle_hash(service_dir=service, target=target, compiler=None) != with_bytecode


@pytest.mark.parametrize("noise", ["__pycache__/app.cpython-311.pyc", "tests/test_x.py", "core/.DS_Store"])
def test_the_hash_ignores_what_never_ships(tmp_path: Path, noise: str) -> None:
    service = copy_of_service(tmp_path)
    before = bundle_hash(service_dir=service, target=ARM, compiler=None)

    (service / noise).parent.mkdir(parents=True, exist_ok=True)
    (service / noise).write_bytes(b"noise")

    assert bundle_hash(service_dir=service, target=ARM, compiler=None) == before
