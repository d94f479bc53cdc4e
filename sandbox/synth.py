"""`cdk synth` by the pinned CLI, with the context that makes the stack run on this machine, offline.

By default the sandbox synthesizes for the runtime `cdk deploy` uses (cdk.json's `runtime`)
where this machine has an interpreter of it, and otherwise for this machine's own Python, so it
runs anywhere; always for this machine's architecture (the asset's wheels must load here). An
interpreter other than the synth's own is handed to the synth as `bytecode_python`, so the
asset ships bytecode as a deploy's does. It points the stack at the offline identity provider:
the authorizer's issuer and audience, and the function's `oidc` provider with its token URL.
Given context wins, so `-c runtime=python3.12` or a real provider's keys
(`-c identity_provider=cognito ...`) are synthesized as asked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from sandbox import offline
from sandbox.runtime_client import RuntimeClientError, find_interpreter, host_architecture, host_python_version

ROOT = Path(__file__).resolve().parents[1]
CDK_CLI = ROOT / "node_modules" / ".bin" / "cdk"
# A certificate ARN for a custom domain that only the sandbox plays: nothing is deployed.
SANDBOX_CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"
# Context keys that choose the identity provider; any of them given means "not the offline one".
IDENTITY_KEYS = frozenset({"identity_provider", "jwt_issuer", "jwt_audience"})


class SynthError(Exception):
    """`cdk synth` failed; the message carries its output."""


def deploy_runtime() -> str | None:
    """The runtime `cdk deploy` uses unless told otherwise: cdk.json's `runtime`."""
    context = json.loads((ROOT / "cdk.json").read_text()).get("context", {})
    runtime = context.get("runtime")
    return runtime if isinstance(runtime, str) else None


def sandbox_runtime(runtime: str | None, *, required: bool = False) -> tuple[str, Path | None]:
    """The runtime to synthesize for, and the interpreter that compiles its bytecode (None: the synth's own).

    `runtime` where this machine has an interpreter of it (or where it is `required`, as a
    runtime given with `-c` is: the sandbox then says what is missing), else this machine's Python.
    """
    host = host_python_version()
    version = runtime.removeprefix("python") if runtime else host
    if version == host:
        return f"python{host}", None
    try:
        return f"python{version}", find_interpreter(version)
    except RuntimeClientError:
        return (f"python{version}", None) if required else (f"python{host}", None)


def sandbox_context(
    *,
    offline_url: str | None,
    given: Mapping[str, str],
    domain_name: str | None = None,
    mapping_key: str | None = None,
) -> dict[str, str]:
    """The `-c` values the sandbox synthesizes with: its runtime, the offline services, then `given`."""
    runtime, compiler = sandbox_runtime(given.get("runtime") or deploy_runtime(), required="runtime" in given)
    context = {"runtime": runtime, "architecture": host_architecture()}
    if compiler is not None:
        context["bytecode_python"] = str(compiler)
    if offline_url is not None:
        if not IDENTITY_KEYS & set(given):
            context.update(
                {
                    "identity_provider": "oidc",
                    "jwt_issuer": offline.ISSUER,
                    "jwt_audience": offline.AUDIENCE,
                    "jwt_groups_claim": "groups",
                    "oidc_token_url": offline_url + offline.TOKEN_PATH,
                    "oidc_client_id": offline.CLIENT_ID,
                }
            )
        context["docs_assets_url"] = offline_url + offline.DOCS_ASSETS_PATH
    if domain_name:
        context.update({"domain_name": domain_name, "certificate_arn": SANDBOX_CERTIFICATE_ARN})
        if mapping_key:
            context["mapping_key"] = mapping_key
    context.update(given)
    return context


def synthesize(context: Mapping[str, str], *, outdir: Path) -> None:
    """The cloud assembly of `cdk synth -c key=value ...` in `outdir`, which is emptied first."""
    if not CDK_CLI.exists():
        raise SynthError(f"{CDK_CLI} is missing: run `make install`")
    shutil.rmtree(outdir, ignore_errors=True)
    command = [str(CDK_CLI), "synth", "--quiet", "--no-notices", "-o", str(outdir)]
    for key, value in context.items():
        command += ["-c", f"{key}={value}"]
    # The venv's Python (cdk.json's app) and Node.js (the CLI's), first.
    path = os.pathsep.join([str(Path(sys.executable).parent), str(CDK_CLI.parent), os.environ.get("PATH", "")])
    environment = {**os.environ, "PATH": path, "CDK_DISABLE_VERSION_CHECK": "1"}
    result = subprocess.run(  # noqa: S603 - the pinned CLI, fixed arguments
        command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SynthError(f"cdk synth failed:\n{result.stdout}{result.stderr}".rstrip())
