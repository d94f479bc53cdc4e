"""The AWS Parameters and Secrets Lambda Extension's localhost API, on loopback, moto's Secrets Manager behind it.

What the function sees of the real extension: `GET /secretsmanager/get?secretId=<id>` with the
`X-Aws-Parameters-Secrets-Token` header holding the environment's session token (refused
without it, or with a forwarded request); the answer is Secrets Manager's GetSecretValue
response as JSON, or Secrets Manager's error with its status. The values come from a real
Secrets Manager API (moto's server), so a test rotates a secret with `put_secret_value`.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

SESSION_TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"


@dataclass
class SecretsExtensionStandIn:
    port: int
    session_token: str
    secrets_manager: Any  # a boto3 client of moto's Secrets Manager
    # The secret ids asked for, in order: what the function read through the extension.
    reads: list[str] = field(default_factory=list)

    def create_secret(self, name: str, value: str) -> str:
        """A new secret holding `value`; its ARN."""
        arn: str = self.secrets_manager.create_secret(Name=name, SecretString=value)["ARN"]
        return arn

    def rotate(self, arn: str, value: str) -> None:
        """A new AWSCURRENT version, as a rotation's last step leaves it."""
        self.secrets_manager.put_secret_value(SecretId=arn, SecretString=value)


def _handler(extension: SecretsExtensionStandIn) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            from botocore.exceptions import ClientError  # type: ignore[import-untyped]

            url = urlsplit(self.path)
            if url.path != "/secretsmanager/get":
                return self._answer(404, "not found")
            if self.headers.get("X-Forwarded-For") is not None:
                return self._answer(400, "forwarded requests are refused")
            if self.headers.get(SESSION_TOKEN_HEADER) != extension.session_token:
                return self._answer(401, "missing or wrong session token")
            (secret_id,) = parse_qs(url.query).get("secretId", [""])
            extension.reads.append(secret_id)
            try:
                found = extension.secrets_manager.get_secret_value(SecretId=secret_id)
            except ClientError as error:
                status = error.response["ResponseMetadata"].get("HTTPStatusCode", 400)
                return self._answer(status, f"{error.response['Error']['Code']}: {error.response['Error']['Message']}")
            body = {key: found[key] for key in ("ARN", "Name", "VersionId", "SecretString", "VersionStages")}
            body["CreatedDate"] = found["CreatedDate"].isoformat()
            return self._answer(200, json.dumps(body), "application/json")

        def _answer(self, status: int, text: str, content_type: str = "text/plain") -> None:
            payload = text.encode()
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def secrets_extension(
    moto_endpoint: str, *, session_token: str, region: str = "eu-west-1"
) -> Iterator[SecretsExtensionStandIn]:
    """The stand-in on a free loopback port, until the block ends."""
    import boto3  # type: ignore[import-untyped]

    client = boto3.client(
        "secretsmanager",
        endpoint_url=moto_endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    extension = SecretsExtensionStandIn(port=0, session_token=session_token, secrets_manager=client)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(extension))
    server.daemon_threads = True
    extension.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield extension
    finally:
        server.shutdown()
        server.server_close()
