"""`cdk synth` by the pinned CLI, with the context that makes the stack run on this machine, offline.

By default the sandbox synthesizes for this machine's own Python and architecture (the asset's
wheels and bytecode must load here), and points the stack at the offline identity provider:
the authorizer's issuer and audience, and the function's `oidc` provider with its token URL.
Given context wins, so `-c runtime=python3.12` or a real provider's keys
(`-c identity_provider=cognito ...`) are synthesized as asked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from sandbox import offline
from sandbox.runtime_client import host_architecture, host_python_version

ROOT = Path(__file__).resolve().parents[1]
CDK_CLI = ROOT / "node_modules" / ".bin" / "cdk"
# A certificate ARN for a custom domain that only the sandbox plays: nothing is deployed.
SANDBOX_CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"
# Context keys that choose the identity provider; any of them given means "not the offline one".
IDENTITY_KEYS = frozenset({"identity_provider", "jwt_issuer", "jwt_audience"})


class SynthError(Exception):
    """`cdk synth` failed; the message carries its output."""


def sandbox_context(
    *,
    offline_url: str | None,
    given: Mapping[str, str],
    domain_name: str | None = None,
    mapping_key: str | None = None,
) -> dict[str, str]:
    """The `-c` values the sandbox synthesizes with: this machine's runtime, the offline services, then `given`."""
    context = {"runtime": f"python{host_python_version()}", "architecture": host_architecture()}
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
