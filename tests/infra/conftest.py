"""Synthesized apps, built once per session: in-process for assertions, and by the pinned CLI.

Synthesis bundles the service (wheels from a warm cache under `.cache/`), so each fixture
here costs seconds; every test shares them.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The venv's Node.js first, for jsii and the CLI alike.
os.environ["PATH"] = os.pathsep.join(
    [str(Path(sys.executable).parent), str(ROOT / "node_modules" / ".bin"), os.environ.get("PATH", "")]
)

from aws_cdk import App  # noqa: E402 - jsii starts Node.js on import, with the PATH above
from aws_cdk.assertions import Template  # noqa: E402

from app import build, synth  # noqa: E402
from infra.bundling import BundleTarget, cached_dependencies  # noqa: E402
from infra.bytecode import find_bytecode_compiler  # noqa: E402
from infra.stacks.api_stack import ApiStack  # noqa: E402
from tests.route_scopes import route_scopes_context  # noqa: E402
from tests.support import STACK_NAME, committed_context  # noqa: E402

STACK = STACK_NAME
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_ARCHITECTURE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
    platform.machine().lower()
]
# The configuration whose bundle runs on this machine: its Python, its architecture.
HOST_CONTEXT = {"runtime": f"python{HOST_PYTHON}", "architecture": HOST_ARCHITECTURE}

# Everything a deployment can switch on or away from its default, given as `-c` would (strings).
CUSTOM_CONTEXT = {
    "stage_name": "prod",
    "architecture": "x86_64",
    "memory_mb": "1024",
    "timeout_seconds": "20",
    "provider_timeout_seconds": "5",
    "log_retention_days": "90",
    "throttling_rate_limit": "10",
    "throttling_burst_limit": "20",
    "cors_allow_origins": "https://app.example.com,https://admin.example.com",
    "docs_enabled": "false",
    "domain_name": "api.example.com",
    "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
    "mapping_key": "orders",
    "identity_provider": "cognito",
    "jwt_issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example",
    "jwt_audience": "client-one,client-two",
    "jwt_groups_claim": "cognito:groups",
    "cognito_user_pool_client_id": "client-one",
    "cognito_client_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cognito-client-AbCdEf",
    "alarm_topic_arn": "arn:aws:sns:eu-west-1:123456789012:pipeline-notifications",
    "alarm_server_error_percent": "2.5",
    "alarm_latency_p99_ms": "1200",
    "alarm_throttle_percent": "0.5",
    "alarm_auth_refusals": "rate",
    "alarm_auth_refusal_percent": "15",
}


def cdk_json_context() -> dict[str, Any]:
    return committed_context()


@dataclass(frozen=True)
class Synthesized:
    stack: ApiStack
    template: Template
    template_json: dict[str, Any]
    assembly_dir: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template_json["Resources"].items() if v["Type"] == resource_type}

    def only(self, resource_type: str) -> dict[str, Any]:
        (resource,) = self.resources(resource_type).values()
        return resource

    @property
    def function_environment(self) -> dict[str, str]:
        variables: dict[str, str] = self.only("AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]
        return variables

    @property
    def asset_dir(self) -> Path:
        return code_asset_dir(self.assembly_dir)


def code_asset_dir(assembly_dir: Path) -> Path:
    """The function's bundle in a cloud assembly (the one zip-packaged directory asset)."""
    manifest = json.loads((assembly_dir / f"{STACK}.assets.json").read_text())
    (path,) = [f["source"]["path"] for f in manifest["files"].values() if f["source"].get("packaging") == "zip"]
    return assembly_dir / str(path)


def synthesize(outdir: Path, **overrides: Any) -> Synthesized:
    """What `cdk synth -c key=value ...` would build, in this process."""
    app = App(context={**cdk_json_context(), **overrides}, outdir=str(outdir))
    stack = build(app).api
    assembly = synth(app)
    template_json: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
    return Synthesized(
        stack=stack, template=Template.from_json(template_json), template_json=template_json, assembly_dir=outdir
    )


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json as committed."""
    return synthesize(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="session")
def custom_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("custom"), **CUSTOM_CONTEXT)


@pytest.fixture(scope="session")
def host_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """In this process, the configuration the CLI fixture synthesizes."""
    return synthesize(tmp_path_factory.mktemp("host"), **HOST_CONTEXT)


def _network_isolation() -> list[str] | None:
    """A prefix that runs a command with no network at all, where this machine allows one."""
    for prefix in (["unshare", "--net", "--"], ["unshare", "--user", "--map-root-user", "--net", "--"]):
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, check=False, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return None


@dataclass(frozen=True)
class CliSynth:
    assembly_dir: Path
    isolation: str
    output: str
    returncode: int = 0


def warm_bundle_cache(python_version: str, architecture: str, *, explicit: str | None = None) -> None:
    """The wheels a synth for this target will want, fetched now, so that the synth itself needs no network."""
    cached_dependencies(
        requirements=ROOT / "service" / "requirements.txt",
        target=BundleTarget(python_version=python_version, architecture=architecture),
        compiler=find_bytecode_compiler(python_version, explicit=explicit, provision=False).compiler,
        cache_dir=ROOT / ".cache" / "lambda-bundle",
    )


def cli_synthesize(
    outdir: Path, context: dict[str, str], *, path_first: tuple[Path, ...] = (), must_succeed: bool = True
) -> CliSynth:
    """`cdk synth -c key=value ...` by the pinned CLI, with no network; `path_first` goes in front of PATH."""
    arguments = [arg for key, value in context.items() for arg in ("-c", f"{key}={value}")]
    command = [str(ROOT / "node_modules" / ".bin" / "cdk"), "synth", "--quiet", "--no-notices", *arguments]
    command += ["-o", str(outdir)]
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1"}
    env["PATH"] = os.pathsep.join([*map(str, path_first), env["PATH"]])
    isolation = _network_isolation()
    if isolation is not None:
        command = [*isolation, *command]
        how = "network namespace"
    else:
        # No namespace here: every proxy points at a closed port and pip may not use an index.
        dead = "http://127.0.0.1:9"
        env.update(HTTPS_PROXY=dead, HTTP_PROXY=dead, https_proxy=dead, http_proxy=dead, PIP_NO_INDEX="1")
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
        how = "dead proxies"
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    if must_succeed:
        assert result.returncode == 0, f"cdk synth failed ({how}):\n{result.stdout}\n{result.stderr}"
    return CliSynth(
        assembly_dir=outdir, isolation=how, output=result.stdout + result.stderr, returncode=result.returncode
    )


@pytest.fixture(scope="session")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> CliSynth:
    """`cdk synth` by the pinned CLI with no network: wheels come from the cache, warmed first."""
    warm_bundle_cache(HOST_PYTHON, HOST_ARCHITECTURE)
    return cli_synthesize(tmp_path_factory.mktemp("cli") / "cdk.out", HOST_CONTEXT)


@pytest.fixture(scope="session")
def override_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json with route_scopes on a scoped route and on a token-only route, as given with `-c`."""
    return synthesize(tmp_path_factory.mktemp("route-scopes"), **route_scopes_context())
