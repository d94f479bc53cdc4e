"""What the sandbox reads from a cloud assembly, and how it says no to what it cannot run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.assembly import AssemblyError, load_http_api
from sandbox.runtime_client import (
    RuntimeClientError,
    check_architecture,
    find_interpreter,
    host_architecture,
    host_python_version,
)
from sandbox.synth import deploy_runtime, sandbox_runtime
from tests.support import ROOT, STACK_NAME, server_env
from tests.support_sandbox import CUSTOM_DOMAIN, MAPPING_KEY, changed_assembly, function_properties


def test_the_function_is_the_templates(sandbox_assembly: Path) -> None:
    (function,) = load_http_api(sandbox_assembly).functions

    assert function.handler == "service.runtime.aws_lambda.handler"
    assert function.runtime == sandbox_runtime(deploy_runtime())[0]
    assert function.architecture == host_architecture()
    assert (function.timeout_seconds, function.memory_mb) == (15, 512)
    assert function.environment["RUNTIME"] == "LAMBDA"
    assert function.environment["AWS_API_GW_STAGE_NAME"] == "mvp"
    assert function.environment["IDENTITY_PROVIDER"] == "oidc"
    assert (function.log_format, function.application_log_level) == ("JSON", "INFO")
    # The API invokes the alias of a published version.
    assert (function.qualifier, function.version) == ("live", "1")
    assert (function.asset_dir / "service" / "runtime" / "aws_lambda.py").is_file()
    assert function.name.startswith(f"{STACK_NAME}-")


def test_the_custom_domain_and_its_mapping_key_are_the_templates(sandbox_assembly: Path) -> None:
    api = load_http_api(sandbox_assembly)

    assert api.custom_domain(CUSTOM_DOMAIN).mapping_key == MAPPING_KEY


def test_a_variable_resolved_at_deploy_time_stops_the_sandbox_naming_it(sandbox_assembly: Path, tmp_path: Path) -> None:
    def secret(template: dict[str, Any]) -> None:
        variables = function_properties(template)["Environment"]["Variables"]
        variables["OIDC_CLIENT_SECRET"] = "{{resolve:secretsmanager:arn:aws:secretsmanager:eu-west-1:1:secret:x}}"

    copy = changed_assembly(sandbox_assembly, tmp_path / "cdk.out", secret)

    with pytest.raises(AssemblyError, match="OIDC_CLIENT_SECRET is resolved by CloudFormation at deploy time"):
        load_http_api(copy)


def test_a_directory_that_is_no_cloud_assembly_is_named(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match="not a cloud assembly"):
        load_http_api(tmp_path)


def test_an_interpreter_of_this_machines_python_is_found() -> None:
    interpreter = find_interpreter(host_python_version())

    version = subprocess.run(
        [str(interpreter), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == host_python_version()


def test_a_python_this_machine_lacks_is_a_clear_error_saying_how_to_get_one() -> None:
    with pytest.raises(RuntimeClientError, match=r"no Python 3\.99 interpreter.*pyenv install 3\.99.*--python"):
        find_interpreter("3.99")


def test_an_asset_built_for_another_architecture_is_refused_before_it_runs() -> None:
    other = "arm64" if host_architecture() == "x86_64" else "x86_64"

    with pytest.raises(RuntimeClientError, match=f"built for {other} and this machine is {host_architecture()}"):
        check_architecture(other)


def test_serve_stops_with_the_message_when_the_runtime_cannot_run_here(sandbox_assembly: Path, tmp_path: Path) -> None:
    def unknown_runtime(template: dict[str, Any]) -> None:
        function_properties(template)["Runtime"] = "python3.99"

    copy = changed_assembly(sandbox_assembly, tmp_path / "cdk.out", unknown_runtime)
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "serve", str(copy), "--port", "0"],
        cwd=ROOT,
        env=server_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 2
    assert (
        "error: the function's runtime is python3.99 and this machine has no Python 3.99 interpreter" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_layers_are_named_never_run(sandbox_assembly: Path, tmp_path: Path) -> None:
    layer = "arn:aws:lambda:eu-west-1:123456789012:layer:extension:7"

    def with_layers(template: dict[str, Any]) -> None:
        function_properties(template)["Layers"] = [layer, {"Fn::FindInMap": ["Layers", {"Ref": "AWS::Region"}, "arn"]}]

    copy = changed_assembly(sandbox_assembly, tmp_path / "cdk.out", with_layers)
    (function,) = load_http_api(copy).functions

    assert function.layers == (layer, "a layer named at deploy time")
