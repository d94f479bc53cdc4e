"""The sandbox as the tests start it: the offline services, one synthesized assembly, `python -m sandbox serve`.

Synthesizing takes tens of seconds, so the tests share one assembly per session
(`tests/conftest.py`): the host's Python and architecture, the offline identity provider and
docs assets, and a custom domain with an API mapping key, so the same template is served on
the execute-api domain (stage in front) and on the custom domain (key in front). A test that
needs another template serves a copy of that one, changed (`changed_assembly`): the sandbox
reads nothing else.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import offline
from sandbox.gateway import DEFAULT_RAW_PATH_SHAPE, RAW_PATH_SHAPES
from sandbox.synth import sandbox_context, synthesize
from service.core.identity.local import LocalUser
from tests.support import STACK_NAME, committed_context, free_port, running_server, server_env

STAGE = "mvp"
CUSTOM_DOMAIN = "api.example.com"
MAPPING_KEY = "shop"
# Every shape of rawPath behind the custom domain the sandbox plays (sandbox/gateway.py): the
# route, docs and smoke tests run on each.
CUSTOM_DOMAIN_RAW_PATHS = RAW_PATH_SHAPES
STACK_TEMPLATE = f"{STACK_NAME}.template.json"
PROBE_MODULE = Path(__file__).parent / "sandbox" / "probe_handler.py"
# The offline issuer's signing key, in the directory its services run in.
OFFLINE_KEY_FILE = "key.pem"


def synthesize_sandbox_assembly(outdir: Path, *, offline_url: str) -> Path:
    # The tests play both addresses of this one template: the context key keeps the execute-api endpoint.
    context = sandbox_context(
        offline_url=offline_url,
        given={"keep_execute_api_endpoint": "true"},
        domain_name=CUSTOM_DOMAIN,
        mapping_key=MAPPING_KEY,
    )
    synthesize(context, outdir=outdir)
    return outdir


@contextmanager
def running_offline_services(workdir: Path, *, users_file: Path | None = None) -> Iterator[str]:
    """`python -m sandbox offline`: the identity provider and docs assets, as `make sandbox` serves them.

    With `users_file`, the issuer knows those users instead of the demo ones.
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "offline",
        "--port",
        str(port),
        "--key-file",
        str(workdir / OFFLINE_KEY_FILE),
    ]
    if users_file is not None:
        command += ["--users-file", str(users_file)]
    with running_server(
        command, port=port, ready_path=offline.JWKS_PATH, env=server_env(), log_path=workdir / "offline.log"
    ) as base_url:
        yield base_url


def offline_bearer(offline_services_dir: Path, user: LocalUser) -> dict[str, str]:
    """An Authorization header for `user` (any scopes and groups: `declared.caller_of`), signed as the offline issuer.

    The offline issuer the session runs (`offline_services`) signs with the key in its directory:
    the same key signs here, so the sandbox's authorizer accepts the token as the issuer's own.
    """
    issuer = offline.offline_issuer(
        key_file=offline_services_dir / OFFLINE_KEY_FILE,
        groups_claim=committed_context().get("jwt_groups_claim", "groups"),
    )
    return {"authorization": f"Bearer {issuer.issue_tokens(user).access_token}"}


@dataclass(frozen=True)
class RunningSandbox:
    origin: str
    prefix: str
    log_path: Path
    # Lambda's Invoke API in front of the same functions, where asked for (`sandbox serve --invoke-port`).
    invoke_url: str | None = None

    @property
    def base_url(self) -> str:
        """The API's public base URL: the stage or mapping key included."""
        return self.origin + self.prefix

    def log(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def function_log(self) -> list[str]:
        return [line.removeprefix("[function] ") for line in self.log() if line.startswith("[function] ")]

    def reports(self) -> list[str]:
        """The REPORT line of every invocation so far."""
        return [line for line in self.function_log() if line.startswith("REPORT ")]

    def cold_starts(self) -> int:
        return sum("Init Duration" in line for line in self.reports())


@contextmanager
def running_sandbox(
    assembly_dir: Path,
    workdir: Path,
    *,
    offline_url: str,
    domain: str | None = None,
    raw_path: str = DEFAULT_RAW_PATH_SHAPE,
    name: str = "sandbox",
    invoke_api: bool = False,
) -> Iterator[RunningSandbox]:
    """`python -m sandbox serve` on a free port, the authorizer trusting the offline issuer's keys."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "serve",
        str(assembly_dir),
        "--port",
        str(port),
        "--jwks",
        f"{offline.ISSUER}={offline_url}{offline.JWKS_PATH}",
    ]
    prefix = f"/{STAGE}"
    if domain is not None:
        command += ["--domain", domain, "--raw-path", raw_path]
        prefix = f"/{MAPPING_KEY}"
    invoke_url = None
    if invoke_api:
        invoke_port = free_port()
        command += ["--invoke-port", str(invoke_port)]
        invoke_url = f"http://127.0.0.1:{invoke_port}"
    log_path = workdir / f"{name}.log"
    # Ready once the gateway answers; the function itself starts on the first invocation.
    with running_server(
        command, port=port, ready_path=f"{prefix}/v1/not-a-route", ready_status=404, env=server_env(), log_path=log_path
    ) as origin:
        yield RunningSandbox(origin=origin, prefix=prefix, log_path=log_path, invoke_url=invoke_url)


def changed_assembly(
    source: Path,
    destination: Path,
    change: Callable[[dict[str, Any]], None],
    *,
    probe: bool = False,
) -> Path:
    """A copy of the assembly whose template `change` edited; with `probe`, its asset holds the probe handler.

    The asset is shared by a symbolic link unless the probe must be added to a copy of it.
    """
    destination.mkdir(parents=True)
    shutil.copy2(source / "manifest.json", destination / "manifest.json")
    template = json.loads((source / STACK_TEMPLATE).read_text())
    change(template)
    (destination / STACK_TEMPLATE).write_text(json.dumps(template, indent=1))
    for asset in source.glob("asset.*"):
        if probe:
            shutil.copytree(asset, destination / asset.name)
            shutil.copy2(PROBE_MODULE, destination / asset.name / "sandbox_probe.py")
        else:
            (destination / asset.name).symlink_to(asset, target_is_directory=True)
    return destination


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {
        name: resource for name, resource in template["Resources"].items() if resource["Type"] == resource_type
    }
    return found


def function_properties(template: dict[str, Any]) -> dict[str, Any]:
    (function,) = resources(template, "AWS::Lambda::Function").values()
    properties: dict[str, Any] = function["Properties"]
    return properties


def route_properties(template: dict[str, Any], route_key: str) -> dict[str, Any]:
    (route,) = [
        r for r in resources(template, "AWS::ApiGatewayV2::Route").values() if r["Properties"]["RouteKey"] == route_key
    ]
    properties: dict[str, Any] = route["Properties"]
    return properties


# A fixture's function: serve a copy of the assembly with its template changed by the callable.
ServedCopy = Callable[[Callable[[dict[str, Any]], None]], RunningSandbox]
