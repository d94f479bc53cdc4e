"""Real stand-ins for the identity providers, run on loopback: Google's Firebase Auth emulator
(npm `firebase-tools`) and moto's server for Cognito. The test fixtures use them, and so can a
developer who wants `make dev` against either (see docs/identity-providers.md):

    .venv/bin/python -m tests.identity.standins firebase   # or: cognito

starts one, creates the demo users (`admin@example.com` in ADMINS and USERS, `user@example.com`
in USERS), prints the variables for `make dev`, and runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
BIN_DIRS = (REPO / ".venv" / "bin", REPO / "node_modules" / ".bin")
START_TIMEOUT_SECONDS = 90.0

DEMO_USERS = (
    ("admin@example.com", "Admin-password1", ("ADMINS", "USERS")),
    ("user@example.com", "User-password1", ("USERS",)),
)


class StandInError(RuntimeError):
    """A stand-in did not start; the message carries the end of its log."""


@contextmanager
def _process_group(
    command: Sequence[str], *, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own process group, stopped with everything it spawned."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
                if process.poll() is not None:
                    break
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StandInError(f"exited with {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise StandInError(f"not ready after {START_TIMEOUT_SECONDS:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def _tool_env(home: Path) -> dict[str, str]:
    """The venv's Node first, a private HOME and TMPDIR, and nothing that phones home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREBASE_", "GCLOUD_", "GOOGLE_"))}
    env.update(
        PATH=os.pathsep.join([*map(str, BIN_DIRS), env.get("PATH", "")]),
        HOME=str(home),
        TMPDIR=str(home),
        NO_UPDATE_NOTIFIER="1",
        CI="1",
    )
    return env


@dataclass
class FirebaseAuthEmulator:
    """The Firebase Auth emulator, administered through its REST API as Google's Admin SDK does."""

    host: str  # host:port, the value of FIREBASE_AUTH_EMULATOR_HOST
    project_id: str

    @property
    def issuer(self) -> str:
        return f"https://securetoken.google.com/{self.project_id}"

    def _admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"http://{self.host}/identitytoolkit.googleapis.com/v1/projects/{self.project_id}/{path}"
        # The emulator takes "owner" as the credentials of a project owner.
        response = httpx.post(url, json=body, headers={"Authorization": "Bearer owner"}, timeout=10.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def create_user(self, email: str, password: str, *, groups: Sequence[str] = (), disabled: bool = False) -> str:
        uid = str(self._admin("accounts", {"email": email, "password": password})["localId"])
        update: dict[str, Any] = {"localId": uid}
        if groups:
            # What the Admin SDK's set_custom_user_claims(uid, {"groups": [...]}) sends.
            update["customAttributes"] = json.dumps({"groups": list(groups)})
        if disabled:
            update["disableUser"] = True
        if len(update) > 1:
            self._admin("accounts:update", update)
        return uid


@contextmanager
def firebase_auth_emulator(
    workdir: Path, project_id: str = "demo-fastapi-lambda", port: int | None = None
) -> Iterator[FirebaseAuthEmulator]:
    """`firebase emulators:start --only auth` on free loopback ports; a `demo-` project never reaches Google."""
    if not project_id.startswith("demo-"):
        raise ValueError("use a demo- project: the emulator then never talks to Google")
    firebase = shutil.which("firebase", path=os.pathsep.join(map(str, BIN_DIRS)))
    if firebase is None:
        raise StandInError("firebase-tools is not installed: run `make install`")
    port = port or free_port()
    config = {
        "emulators": {
            "auth": {"host": "127.0.0.1", "port": port},
            "hub": {"host": "127.0.0.1", "port": free_port()},
            "logging": {"host": "127.0.0.1", "port": free_port()},
            "ui": {"enabled": False},
            "singleProjectMode": True,
        }
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "firebase.json").write_text(json.dumps(config))
    command = [firebase, "emulators:start", "--only", "auth", "--project", project_id]
    log = workdir / "emulator.log"
    with _process_group(command, cwd=workdir, env=_tool_env(workdir), log=log) as process:
        _wait_until_ready(f"http://127.0.0.1:{port}/", process, log)
        yield FirebaseAuthEmulator(host=f"127.0.0.1:{port}", project_id=project_id)


@dataclass
class CognitoUserPool:
    endpoint: str
    region: str
    pool_id: str
    client_id: str
    secret_client_id: str
    secret_client_secret: str

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_uri(self) -> str:
        # moto serves each pool's keys at its own address, not at the issuer's.
        return f"{self.endpoint.rstrip('/')}/{self.pool_id}/.well-known/jwks.json"


class MotoCognito:
    """moto's server, administered with boto3 (a test dependency, never in the bundle)."""

    def __init__(self, endpoint: str, region: str = "eu-west-1") -> None:
        import boto3  # type: ignore[import-untyped]

        self.endpoint = endpoint
        self.region = region
        self.client = boto3.client(
            "cognito-idp",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def create_pool(self, name: str) -> CognitoUserPool:
        pool_id = self.client.create_user_pool(PoolName=name)["UserPool"]["Id"]
        flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
        client = self.client.create_user_pool_client(UserPoolId=pool_id, ClientName="api", ExplicitAuthFlows=flows)
        secret_client = self.client.create_user_pool_client(
            UserPoolId=pool_id, ClientName="api-with-secret", ExplicitAuthFlows=flows, GenerateSecret=True
        )
        for group in ("ADMINS", "USERS"):
            self.client.create_group(UserPoolId=pool_id, GroupName=group)
        return CognitoUserPool(
            endpoint=self.endpoint,
            region=self.region,
            pool_id=pool_id,
            client_id=client["UserPoolClient"]["ClientId"],
            secret_client_id=secret_client["UserPoolClient"]["ClientId"],
            secret_client_secret=secret_client["UserPoolClient"]["ClientSecret"],
        )

    def create_user(
        self,
        pool: CognitoUserPool,
        username: str,
        password: str,
        *,
        groups: Sequence[str] = (),
        disabled: bool = False,
        permanent_password: bool = True,
    ) -> None:
        self.client.admin_create_user(
            UserPoolId=pool.pool_id, Username=username, TemporaryPassword=password, MessageAction="SUPPRESS"
        )
        if permanent_password:
            self.client.admin_set_user_password(
                UserPoolId=pool.pool_id, Username=username, Password=password, Permanent=True
            )
        for group in groups:
            self.client.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=username, GroupName=group)
        if disabled:
            self.client.admin_disable_user(UserPoolId=pool.pool_id, Username=username)


@contextmanager
def moto_server(workdir: Path, port: int | None = None) -> Iterator[str]:
    """moto's server on a loopback port (a free one by default); yields its endpoint URL."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    log = workdir / "moto.log"
    with _process_group(command, cwd=workdir, env=dict(os.environ), log=log) as process:
        endpoint = f"http://127.0.0.1:{port}"
        _wait_until_ready(f"{endpoint}/moto-api/", process, log)
        yield endpoint


def _serve_until_interrupted(variables: dict[str, str]) -> None:
    print("Stand-in running. In another shell:\n")
    print(" ".join(f"{name}={value}" for name, value in variables.items()) + " make dev\n")
    for username, password, groups in DEMO_USERS:
        print(f"  {username} / {password}  ({', '.join(groups)})")
    print("\nCtrl-C stops it.")
    sys.stdout.flush()
    # Ctrl-C or a plain `kill`: either way the stand-in is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with suppress(KeyboardInterrupt):
        signal.pause()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a provider stand-in with the demo users, for `make dev`.")
    parser.add_argument("provider", choices=["firebase", "cognito"])
    parser.add_argument("--port", type=int, help="default: 9099 for firebase (the emulator's usual), 5050 for cognito")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix=f"{args.provider}-standin-") as tmp:
        if args.provider == "firebase":
            with firebase_auth_emulator(Path(tmp), port=args.port or 9099) as emulator:
                for username, password, groups in DEMO_USERS:
                    emulator.create_user(username, password, groups=groups)
                _serve_until_interrupted(
                    {
                        "IDENTITY_PROVIDER": "firebase",
                        "FIREBASE_APP_API_KEY": "emulator-accepts-any-key",
                        "FIREBASE_AUTH_EMULATOR_HOST": emulator.host,
                        "JWT_ISSUER": emulator.issuer,
                        "JWT_AUDIENCE": emulator.project_id,
                    }
                )
        else:
            with moto_server(Path(tmp), port=args.port or 5050) as endpoint:
                moto = MotoCognito(endpoint)
                pool = moto.create_pool("fastapi-lambda-dev")
                for username, password, groups in DEMO_USERS:
                    moto.create_user(pool, username, password, groups=groups)
                _serve_until_interrupted(
                    {
                        "IDENTITY_PROVIDER": "cognito",
                        "COGNITO_USER_POOL_CLIENT_ID": pool.client_id,
                        "AWS_REGION": pool.region,
                        "AWS_ENDPOINT_URL_COGNITO_IDP": endpoint,
                        "JWT_ISSUER": pool.issuer,
                        "JWT_AUDIENCE": pool.client_id,
                        "JWT_ISSUER_JWKS_URI": pool.jwks_uri,
                        "JWT_AUTHORIZATION_GROUPS_ATTR_NAME": "cognito:groups",
                    }
                )


if __name__ == "__main__":
    main()
