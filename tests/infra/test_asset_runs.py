"""The bundle the CLI wrote to cdk.out runs on its own: a clean interpreter, only the asset on sys.path.

The configuration is this machine's Python and architecture (`-c runtime=... -c architecture=...`),
the environment is the synthesized function's, the requests are HTTP API payload 2.0 events.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import STACK, CliSynth, code_asset_dir
from tests.support import load_event

EVENTS = ["asset_health", "asset_openapi", "asset_whoami", "asset_admin", "asset_whoami_no_authorizer"]

# Runs inside `python -I -S`: no site-packages, no PYTHON* variables, no current directory.
RUNNER = """
import json, sys, sysconfig
asset = sys.argv[1]
sys.path.insert(0, asset)
from service.runtime.aws_lambda import handler
responses = [handler(event, None) for event in json.loads(sys.stdin.read())]
allowed = (asset, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted(
    f"{name}: {module.__file__}" for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None) and not module.__file__.startswith(allowed)
)
print(json.dumps({"responses": responses, "outside": outside, "path": sys.path}))
"""


def template(cli_synth: CliSynth) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((cli_synth.assembly_dir / f"{STACK}.template.json").read_text())
    return loaded


@pytest.fixture(scope="module")
def ran(cli_synth: CliSynth) -> dict[str, Any]:
    resources = template(cli_synth)["Resources"].values()
    (function,) = [r["Properties"] for r in resources if r["Type"] == "AWS::Lambda::Function"]
    # What Lambda would set: the template's variables plus the region it runs in.
    env = {**function["Environment"]["Variables"], "AWS_REGION": "eu-west-1"}
    output, _ = run_events([sys.executable, "-I", "-S"], RUNNER, code_asset_dir(cli_synth.assembly_dir), env)
    output["environment"] = env
    return output


def run_events(interpreter: list[str], runner: str, asset: Path, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    """`runner` run by `interpreter` (with its flags) in `asset`, given EVENTS on stdin.

    Its last line of output, with the responses keyed by event name, and its stderr.
    """
    result = subprocess.run(
        [*interpreter, "-c", runner, str(asset)],
        input=json.dumps([load_event(f"{name}.json") for name in EVENTS]),
        capture_output=True,
        text=True,
        env=env,
        cwd=asset,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    output["responses"] = dict(zip(EVENTS, output["responses"], strict=True))
    return output, result.stderr


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_only_the_asset_and_the_standard_library_were_imported(ran: dict[str, Any]) -> None:
    assert ran["outside"] == []
    assert not [entry for entry in ran["path"] if "site-packages" in entry]


def test_the_events_target_the_synthesized_stage(ran: dict[str, Any]) -> None:
    stages = {load_event(f"{name}.json")["requestContext"]["stage"] for name in EVENTS}

    assert stages == {ran["environment"]["AWS_API_GW_STAGE_NAME"]}


def test_health(ran: dict[str, Any]) -> None:
    response = ran["responses"]["asset_health"]

    assert response["statusCode"] == 200
    assert body(response) == {"status": "ok"}


def test_the_openapi_document_is_served_under_the_stage(ran: dict[str, Any]) -> None:
    response = ran["responses"]["asset_openapi"]

    assert response["statusCode"] == 200
    assert body(response)["servers"] == [{"url": "/mvp"}]


def test_whoami_returns_the_gateways_claims_unflattened(ran: dict[str, Any]) -> None:
    response = ran["responses"]["asset_whoami"]

    assert response["statusCode"] == 200
    claims = body(response)
    assert claims["email"] == "user@example.com"
    assert claims["groups"] == ["USERS"]
    assert claims["email_verified"] is True


def test_admin_lists_what_the_gateway_routes(ran: dict[str, Any], cli_synth: CliSynth) -> None:
    response = ran["responses"]["asset_admin"]
    routes = [r for r in template(cli_synth)["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Route"]

    assert response["statusCode"] == 200
    listed = {f"{endpoint['method']} {endpoint['path']}" for endpoint in body(response)}
    assert listed == {route["Properties"]["RouteKey"] for route in routes}


def test_a_protected_route_without_the_authorizers_claims_is_refused(ran: dict[str, Any]) -> None:
    response = ran["responses"]["asset_whoami_no_authorizer"]

    assert response["statusCode"] == 401
