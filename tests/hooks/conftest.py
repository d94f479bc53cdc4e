"""What the hooks' tests run them against: the sandbox, moto's Secrets Manager, a recorder of CodeDeploy's calls.

The hooks run in this process with the AWS SDK they use in Lambda (boto3's clients), pointed at
loopback through the SDK's own per-service endpoint variables (`AWS_ENDPOINT_URL_<SERVICE>`,
botocore's "service-specific endpoints"): Lambda's Invoke API is the sandbox's, in front of the
function it runs; Secrets Manager is moto's server; CodeDeploy is `StatusRecorder`, which
answers PutLifecycleEventHookExecutionStatus as the API reference does and keeps each call.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from sandbox.offline import DEMO_PASSWORDS
from service.core.identity.local import DEMO_USERS
from tests.identity.standins import moto_server

REGION = "eu-west-1"
# CodeDeploy's JSON 1.1 protocol names the operation in this header (the API reference's "Common Parameters").
STATUS_TARGET = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"


@dataclass(frozen=True)
class StatusCall:
    deployment_id: str
    execution_id: str
    status: str


class StatusRecorder:
    """CodeDeploy's endpoint for status reports, on loopback: answers as the service does and records each call."""

    def __init__(self) -> None:
        self.calls: list[StatusCall] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                if self.headers.get("x-amz-target") != STATUS_TARGET:
                    self.send_response(400)
                    self.end_headers()
                    return
                recorder.calls.append(
                    StatusCall(body["deploymentId"], body["lifecycleEventHookExecutionId"], body["status"])
                )
                answer = json.dumps({"lifecycleEventHookExecutionId": body["lifecycleEventHookExecutionId"]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/x-amz-json-1.1")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def statuses(self) -> list[str]:
        return [call.status for call in self.calls]


@pytest.fixture
def codedeploy(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatusRecorder]:
    recorder = StatusRecorder()
    recorder.thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", recorder.url)
    try:
        yield recorder
    finally:
        recorder.server.shutdown()
        recorder.server.server_close()


@pytest.fixture(autouse=True)
def aws_sdk_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials and a region for the SDK, and no endpoint or profile from the developer's shell."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@pytest.fixture(scope="session")
def secrets_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server, standing in for Secrets Manager."""
    with moto_server(tmp_path_factory.mktemp("moto-secrets")) as endpoint:
        yield endpoint


def demo_user(username: str) -> dict[str, Any]:
    """An offline issuer's demo user as the smoke user's secret holds one."""
    (user,) = [u for u in DEMO_USERS if u.username == username]
    return {"username": user.username, "password": DEMO_PASSWORDS[user.username], "groups": list(user.groups)}


@dataclass(frozen=True)
class SmokeSecrets:
    endpoint: str

    def create(self, value: dict[str, Any]) -> str:
        """A secret holding `value`, as the pipeline's context names it: its complete ARN."""
        client = boto3.client(
            "secretsmanager",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        arn: str = client.create_secret(Name=f"smoke-user-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(value))[
            "ARN"
        ]
        return arn


@pytest.fixture
def smoke_secrets(secrets_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> SmokeSecrets:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets_endpoint)
    return SmokeSecrets(secrets_endpoint)


class LambdaContext:
    """Lambda's context object as a handler reads it: the time left before the function's timeout."""

    def __init__(self, timeout_seconds: float) -> None:
        self.ends_at = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends_at - time.monotonic()) * 1000))


def hook_event() -> dict[str, str]:
    """What CodeDeploy invokes a lifecycle hook with (AWS, "AppSpec 'hooks' section for an AWS Lambda deployment")."""
    return {"DeploymentId": f"d-{uuid.uuid4().hex[:9].upper()}", "LifecycleEventHookExecutionId": uuid.uuid4().hex}


def read_template(assembly: Path, stack_template: str) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((assembly / stack_template).read_text())
    return template
