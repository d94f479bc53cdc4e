"""A bundle for another Python than the synth's: what `cdk synth` builds on a laptop whose Python is not the runtime's.

The pinned CLI synthesizes `-c runtime=python3.13` (3.12 where this venv is 3.13) with this
venv's Python running the app and a Python 3.13 on PATH, as a user who installed one has it;
the bundle must ship that interpreter's bytecode, and run from it under that Python: a clean
`python3.13 -I -S`, only the asset on sys.path, importing every module of the asset from its
bytecode (no source compiled), answering payload 2.0 events. Where this machine has no such
interpreter, the tests skip. And where no interpreter of the runtime's version can be found,
`require_bytecode` (the pipeline's) fails the synth, naming the command that fixes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench.interpreters import find_python
from infra.bytecode import find_bytecode_compiler
from tests.infra.conftest import (
    HOST_ARCHITECTURE,
    HOST_PYTHON,
    ROOT,
    STACK,
    CliSynth,
    cli_synthesize,
    code_asset_dir,
    synthesize,
    warm_bundle_cache,
)
from tests.infra.test_asset_runs import run_events
from tests.infra.test_bytecode import own_magic_number

OTHER = "3.13" if HOST_PYTHON != "3.13" else "3.12"

# Inside `python3.X -I -S -v`: the handler from the asset, answering events, and the asset's
# Python modules it imported (extensions aside). With -v the import system says where each
# module's code object comes from: its .pyc, or its source compiled.
RUNNER = """
import json, sys
asset = sys.argv[1]
sys.path.insert(0, asset)
from service.runtime.aws_lambda import handler
responses = [handler(event, None) for event in json.loads(sys.stdin.read())]
files = {name: str(getattr(module, "__file__", "")) for name, module in list(sys.modules.items())}
from_asset = sorted(name for name, file in files.items() if file.startswith(asset) and file.endswith(".py"))
print(json.dumps({"responses": responses, "from_asset": from_asset, "version": list(sys.version_info[:2])}))
"""


def code_objects(verbose_stderr: str, asset: Path) -> list[str]:
    """The files under `asset` whose code objects the import system loaded, as `-v` reports them."""
    prefix = "# code object from "
    loaded = [line.removeprefix(prefix).strip("'") for line in verbose_stderr.splitlines() if line.startswith(prefix)]
    return [path for path in loaded if path.startswith(str(asset))]


@pytest.fixture(scope="module")
def other_python() -> str:
    found = find_python(OTHER)
    if found is None:
        pytest.skip(f"no Python {OTHER} on this machine (pyenv or PATH)")
    return found.executable


@pytest.fixture(scope="module")
def other_synth(other_python: str, tmp_path_factory: pytest.TempPathFactory) -> CliSynth:
    # Exactly one interpreter of the runtime's version on PATH, under the name a user runs it by.
    on_path = tmp_path_factory.mktemp("python-on-path")
    (on_path / f"python{OTHER}").symlink_to(other_python)
    warm_bundle_cache(OTHER, HOST_ARCHITECTURE, explicit=other_python)
    return cli_synthesize(
        tmp_path_factory.mktemp("other") / "cdk.out",
        {"runtime": f"python{OTHER}", "architecture": HOST_ARCHITECTURE},
        path_first=(on_path,),
    )


def test_the_bundle_ships_bytecode_of_the_runtimes_python(other_synth: CliSynth, other_python: str) -> None:
    asset = code_asset_dir(other_synth.assembly_dir)
    magic = own_magic_number(other_python)
    tag = "cpython-" + OTHER.replace(".", "")

    pycs = list(asset.rglob("*.pyc"))
    sources = list(asset.rglob("*.py"))
    assert len(pycs) == len(sources) > 100
    assert {pyc.name.split(".")[-2] for pyc in pycs} == {tag}
    assert {pyc.read_bytes()[:4] for pyc in pycs} == {magic}
    assert "WITHOUT BYTECODE" not in other_synth.output


def test_its_hash_follows_the_bytecodes_python_not_where_the_interpreter_is(
    other_synth: CliSynth, other_python: str, tmp_path: Path
) -> None:
    # In this process, the interpreter named by its real path as bytecode_python, not found on
    # PATH through a link of another name: another place, the same Python, the same asset.
    elsewhere = synthesize(
        tmp_path, runtime=f"python{OTHER}", architecture=HOST_ARCHITECTURE, bytecode_python=other_python
    )

    assert elsewhere.asset_dir.name == code_asset_dir(other_synth.assembly_dir).name


@pytest.fixture(scope="module")
def ran(other_synth: CliSynth, other_python: str) -> dict[str, Any]:
    template = json.loads((other_synth.assembly_dir / f"{STACK}.template.json").read_text())
    (function,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Runtime"] == f"python{OTHER}"
    asset = code_asset_dir(other_synth.assembly_dir)
    env = {**function["Environment"]["Variables"], "AWS_REGION": "eu-west-1", "PATH": os.environ["PATH"]}
    output, stderr = run_events([other_python, "-I", "-S", "-v"], RUNNER, asset, env)
    output["code_objects"] = code_objects(stderr, asset)
    return output


def test_it_runs_under_that_python_from_its_bytecode(ran: dict[str, Any]) -> None:
    assert ran["version"] == [int(part) for part in OTHER.split(".")]
    assert {"service.runtime.aws_lambda", "fastapi", "pydantic", "starlette", "mangum"} <= set(ran["from_asset"])
    # Every module of the asset was loaded from its .pyc: none compiled from source.
    assert len(ran["code_objects"]) >= len(ran["from_asset"])
    assert [path for path in ran["code_objects"] if not path.endswith(".pyc")] == []


def test_it_answers_the_events_under_that_python(ran: dict[str, Any]) -> None:
    responses = ran["responses"]

    assert responses["asset_health"]["statusCode"] == 200
    assert json.loads(responses["asset_health"]["body"]) == {"status": "ok"}
    assert responses["asset_whoami"]["statusCode"] == 200
    assert responses["asset_whoami_no_authorizer"]["statusCode"] == 401


@pytest.fixture(scope="module")
def required_but_absent(tmp_path_factory: pytest.TempPathFactory) -> CliSynth:
    runtime_python = json.loads((ROOT / "cdk.json").read_text())["context"]["runtime"].removeprefix("python")
    if find_bytecode_compiler(runtime_python, provision=False).compiler is not None:
        pytest.skip(f"this machine has a Python {runtime_python}: the bundle gets bytecode")
    warm_bundle_cache(runtime_python, "arm64")
    return cli_synthesize(
        tmp_path_factory.mktemp("required") / "cdk.out", {"require_bytecode": "true"}, must_succeed=False
    )


def test_require_bytecode_fails_the_synth_and_names_the_fix(required_but_absent: CliSynth) -> None:
    output = required_but_absent.output

    assert required_but_absent.returncode != 0
    assert "ERROR The bundle ships WITHOUT BYTECODE" in output
    assert f"{STACK}/Api/Function aws-cdk-lib.aws_lambda.Function" in output
    assert "Fix: `uv python install 3.14`" in output
    assert "(require_bytecode is set)" in output
    assert "Synthesis finished with errors" in output
