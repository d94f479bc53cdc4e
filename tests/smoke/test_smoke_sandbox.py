"""`python -m smoke` against the sandbox: green for real users, and failing on the right check for a broken template.

The script runs as the pipeline runs it, in its own process with the test user in SMOKE_USER,
against `python -m sandbox serve` of the synthesized assembly (or of a copy whose template a
CDK change could have broken). Every run's output is checked for the password and any token.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest

from infra.stacks.pipeline_stack import SMOKE_USER_VARIABLE, smoke_command
from sandbox.offline import DEMO_PASSWORDS
from service.core.identity.local import DEMO_USERS
from tests.support import ROOT, server_env
from tests.support_sandbox import (
    CUSTOM_DOMAIN,
    CUSTOM_DOMAIN_RAW_PATHS,
    RunningSandbox,
    ServedCopy,
    changed_assembly,
    function_properties,
    resources,
    running_offline_services,
    running_sandbox,
)

pytestmark = pytest.mark.e2e

# Every check the script runs with a test user, in order; without one, the first three and the
# product's own (smoke/product_checks/: tests/smoke/test_product_checks.py).
CHECKS = ("health", "docs", "no token", "sign-in", "whoami", "admin", "refresh", "wrong password", "product")
PUBLIC_CHECKS = (*CHECKS[:3], "product")
# Any JWT: its header and payload are base64url JSON objects, so both start with "eyJ".
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")

# A user whose access token carries what a Firebase ID token does (Firebase's documented ID
# token payload: firebase.identities and sign_in_provider, user_id equal to sub, auth_time,
# email_verified), with the groups as a custom claim; signed by the offline issuer, since the
# Firebase emulator's own tokens are unsigned and a faithful authorizer refuses them.
FIREBASE_UID = "k3xV9mQ2ZtWcR8pLs4NfYh7Ja1Bd"
FIREBASE_USER: dict[str, Any] = {
    "username": "firebase-user@example.com",
    "password": "firebase-user-password",
    "groups": ["ADMINS", "USERS"],
}
FIREBASE_CLAIMS: dict[str, Any] = {
    "user_id": FIREBASE_UID,
    "auth_time": 1733380000,
    "email_verified": True,
    "firebase": {"identities": {"email": [FIREBASE_USER["username"]]}, "sign_in_provider": "password"},
}


def demo_user(index: int) -> dict[str, Any]:
    user = DEMO_USERS[index]
    return {"username": user.username, "password": DEMO_PASSWORDS[user.username], "groups": user.groups}


@dataclass(frozen=True)
class SmokeRun:
    returncode: int
    lines: list[str]

    def passed(self) -> list[str]:
        return [line.removeprefix("ok   ").partition(":")[0] for line in self.lines if line.startswith("ok   ")]

    def failed(self) -> str | None:
        """The check that failed: the name on the FAIL line."""
        failed = [line.removeprefix("FAIL ").partition(":")[0] for line in self.lines if line.startswith("FAIL ")]
        return failed[0] if failed else None


def run_smoke(base_url: str, user: dict[str, Any] | None, *args: str) -> SmokeRun:
    """`python -m smoke`, as the pipeline runs it; its output never holds the password or a token."""
    env = {name: value for name, value in server_env().items() if name != "SMOKE_USER"}
    if user is not None:
        env["SMOKE_USER"] = json.dumps(user)
    completed = subprocess.run(
        [sys.executable, "-m", "smoke", "--base-url", base_url, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    output = completed.stdout + completed.stderr
    print(output)  # the run's lines, for whoever reads the test log
    if user is not None:
        assert user["password"] not in output
    assert not JWT.search(output)
    return SmokeRun(returncode=completed.returncode, lines=completed.stdout.splitlines())


@pytest.fixture(scope="module")
def unchanged(
    sandbox_assembly: Path, offline_services: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    with running_sandbox(sandbox_assembly, tmp_path_factory.mktemp("smoke"), offline_url=offline_services) as running:
        yield running


@pytest.mark.parametrize("index", range(len(DEMO_USERS)), ids=[user.username for user in DEMO_USERS])
def test_each_demo_user_passes_every_check(unchanged: RunningSandbox, index: int) -> None:
    user = demo_user(index)
    run = run_smoke(unchanged.base_url, user)

    assert run.returncode == 0
    assert run.passed() == list(CHECKS)
    (admin,) = [line for line in run.lines if line.startswith("ok   admin:")]
    assert ("200" if "ADMINS" in user["groups"] else "403") in admin


def test_the_pipelines_own_command_line_passes_against_the_sandbox(unchanged: RunningSandbox) -> None:
    # The smoke step's build command, as its buildspec holds it, with the variables CodeBuild sets.
    command = smoke_command(groups_claim="groups", docs=True)
    env = {
        **{name: value for name, value in server_env().items() if name != "SMOKE_USER"},
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "API_URL": unchanged.base_url + "/",  # the ApiUrl output ends with a slash
        SMOKE_USER_VARIABLE: json.dumps(demo_user(1)),
    }
    completed = subprocess.run(
        ["/bin/sh", "-c", command], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False
    )
    print(completed.stdout + completed.stderr)

    assert completed.returncode == 0
    assert completed.stdout.splitlines()[-1].startswith(f"smoke: {len(CHECKS)} checks passed")
    assert DEMO_PASSWORDS[demo_user(1)["username"]] not in completed.stdout + completed.stderr


@pytest.mark.parametrize("raw_path", CUSTOM_DOMAIN_RAW_PATHS)
def test_behind_the_custom_domains_mapping_key_every_check_passes(
    sandbox_assembly: Path, offline_services: str, tmp_path: Path, raw_path: str
) -> None:
    with running_sandbox(
        sandbox_assembly, tmp_path, offline_url=offline_services, domain=CUSTOM_DOMAIN, raw_path=raw_path
    ) as running:
        run = run_smoke(running.base_url, demo_user(0))

    assert run.returncode == 0
    assert run.passed() == list(CHECKS)


def test_a_user_with_a_firebase_id_tokens_claims_passes_every_check(sandbox_assembly: Path, tmp_path: Path) -> None:
    users_file = tmp_path / "users.json"
    hashed = bcrypt.hashpw(FIREBASE_USER["password"].encode(), bcrypt.gensalt(rounds=4)).decode()
    entry = {
        "username": FIREBASE_USER["username"],
        "password_hash": hashed,
        "groups": FIREBASE_USER["groups"],
        "subject": FIREBASE_UID,
        "claims": FIREBASE_CLAIMS,
    }
    users_file.write_text(json.dumps({"users": [entry]}))
    with running_offline_services(tmp_path, users_file=users_file) as issuer_url:

        def token_url_of_this_issuer(template: dict[str, Any]) -> None:
            variables = function_properties(template)["Environment"]["Variables"]
            variables["OIDC_TOKEN_URL"] = issuer_url + "/token"

        assembly = changed_assembly(sandbox_assembly, tmp_path / "cdk.out", token_url_of_this_issuer)
        with running_sandbox(assembly, tmp_path, offline_url=issuer_url) as running:
            run = run_smoke(running.base_url, FIREBASE_USER)
            with httpx.Client(base_url=running.base_url, timeout=30) as client:
                form = {"username": FIREBASE_USER["username"], "password": FIREBASE_USER["password"]}
                token = client.post("/v1/auth/token", data=form).json()["access_token"]
                claims = client.get("/v1/users/whoami", headers={"authorization": f"Bearer {token}"}).json()

    assert run.returncode == 0
    assert run.passed() == list(CHECKS)
    # The token the script signed in with was Firebase-shaped: its claims reached the app.
    assert set(FIREBASE_CLAIMS) <= set(claims)
    assert claims["sub"] == FIREBASE_UID


def test_without_a_test_user_only_the_unauthenticated_checks_run_and_the_output_says_so(
    unchanged: RunningSandbox,
) -> None:
    run = run_smoke(unchanged.base_url, None)

    assert run.returncode == 0
    assert run.passed() == list(PUBLIC_CHECKS)
    assert any("unauthenticated checks only" in line for line in run.lines)


def test_groups_the_identity_provider_does_not_give_fail_whoami(unchanged: RunningSandbox) -> None:
    user = {**demo_user(1), "groups": ["ADMINS", "USERS"]}

    run = run_smoke(unchanged.base_url, user)

    assert (run.returncode, run.failed()) == (1, "whoami")


def test_docs_served_where_the_environment_switched_them_off_fail_docs(unchanged: RunningSandbox) -> None:
    run = run_smoke(unchanged.base_url, None, "--no-docs")

    assert (run.returncode, run.failed()) == (1, "docs")


def test_the_authorizer_removed_fails_the_no_token_check(served_copy: ServedCopy) -> None:
    def no_authorizer(template: dict[str, Any]) -> None:
        for route in resources(template, "AWS::ApiGatewayV2::Route").values():
            route["Properties"]["AuthorizationType"] = "NONE"
            route["Properties"].pop("AuthorizerId", None)
            route["Properties"].pop("AuthorizationScopes", None)

    changed = served_copy(no_authorizer)
    run = run_smoke(changed.base_url, demo_user(0))

    assert (run.returncode, run.failed()) == (1, "no token")
    assert run.passed() == ["health", "docs"]


def test_a_wrong_stage_name_fails_health(served_copy: ServedCopy) -> None:
    def renamed_stage(template: dict[str, Any]) -> None:
        (stage,) = resources(template, "AWS::ApiGatewayV2::Stage").values()
        stage["Properties"]["StageName"] = "v2"

    changed = served_copy(renamed_stage)
    # At the stage the function expects, the gateway has nothing; at the new one, the function refuses the path.
    at_the_old_stage = run_smoke(changed.base_url, demo_user(0))
    at_the_new_stage = run_smoke(changed.origin + "/v2", demo_user(0))

    assert (at_the_old_stage.returncode, at_the_old_stage.failed()) == (1, "health")
    assert (at_the_new_stage.returncode, at_the_new_stage.failed()) == (1, "health")


def test_a_function_failing_its_init_fails_health(served_copy: ServedCopy) -> None:
    def bad_setting(template: dict[str, Any]) -> None:
        function_properties(template)["Environment"]["Variables"]["PROVIDER_TIMEOUT_SECONDS"] = "soon"

    changed = served_copy(bad_setting)
    run = run_smoke(changed.base_url, demo_user(0))

    assert (run.returncode, run.failed()) == (1, "health")
    assert "500" in run.lines[-1]


def test_an_api_that_never_answers_fails_within_the_deadline() -> None:
    # A listening socket nobody accepts from: connections complete, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        run = run_smoke(f"http://127.0.0.1:{port}/mvp", None, "--timeout", "0.5", "--deadline", "3")

    assert (run.returncode, run.failed()) == (1, "health")
    assert "no answer within 0.5 s" in run.lines[-1]
