"""What a token request leaves in the function's log: never a secret.

The token route is where secrets pass through the service: a caller's password or refresh
token comes in, the provider's API key or the client's secret go out with it, tokens come
back. Each test runs real token requests through the app against the real stand-ins: the
Firebase Auth emulator (which only RUNTIME=LOCAL may name, so through the app `make dev`
serves), and moto's Cognito with the client secret read through the Parameters and Secrets
extension's stand-in, or an OAuth token endpoint, through the Lambda handler. Logging is set
up as Lambda's managed runtime sets it up: its JSON formatter on the root logger, at the
function's `ApplicationLogLevel` (INFO in the template, DEBUG where a team turns it up;
docs/aws-facts.md, row "Lambda JSON log lines"). Everything logged, and everything written to
the process's stdout and stderr, is searched for each secret.

A token endpoint may take its key in the URL's query: Google's own do (`?key=[API_KEY]` on
Identity Toolkit's and Secure Token's, in the Firebase Auth REST API reference,
firebase.google.com/docs/reference/rest/auth), and so does any endpoint behind an API key
gateway. The OIDC module is pointed at the emulator's Secure Token endpoint that way.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from awslambdaric.lambda_runtime_log_utils import JsonFormatter
from fastapi.testclient import TestClient

from service.core.settings import Settings
from service.runtime.lambda_adapter import LambdaHandler, build_handler
from tests.identity.conftest import ADMIN, API_KEY, build_app, cognito_settings, firebase_settings
from tests.identity.secrets_extension import SecretsExtensionStandIn, secrets_extension
from tests.identity.standins import CognitoUserPool, FirebaseAuthEmulator
from tests.service.test_lambda_handler import FakeContext
from tests.support import free_port, load_event, running_dev_server, runtime_logging

pytestmark = pytest.mark.e2e

# A key of the kind Google hands out, sent in a token endpoint's query.
QUERY_KEY = "AIzaSyQueryKeyNotARealOne0123456789"
SESSION_TOKEN = "session-token-of-this-execution-environment"
STAGE = "mvp"
# The real password grant event: its form carries ADMIN's user name and password.
PASSWORD_GRANT_EVENT = load_event("token_password_grant.json")
# What the stand-ins' own clients log in this process (boto3 under the extension's stand-in).
STAND_IN_LOGGERS = ("botocore", "boto3", "urllib3")


@dataclass
class FunctionLog:
    """What reaches the function's log: records through the runtime's handler, and the process's output."""

    capfd: pytest.CaptureFixture[str]
    records: list[logging.LogRecord] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)

    def text(self) -> str:
        captured = self.capfd.readouterr()
        self.output += [captured.out, captured.err]
        return "\n".join(self.lines + self.output)

    def service_lines(self, name: str) -> list[logging.LogRecord]:
        return [record for record in self.records if record.name == name]


class _RuntimeHandler(logging.Handler):
    """The runtime's handler: each record rendered by Lambda's own JSON formatter (awslambdaric)."""

    def __init__(self, log: FunctionLog) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(STAND_IN_LOGGERS):
            return
        self.log.records.append(record)
        self.log.lines.append(self.format(record))


@pytest.fixture(params=[logging.INFO, logging.DEBUG], ids=["INFO", "DEBUG"])
def function_log(request: pytest.FixtureRequest, capfd: pytest.CaptureFixture[str]) -> Iterator[FunctionLog]:
    """Logging as Lambda's runtime sets it up, at the application log level `request.param`."""
    log = FunctionLog(capfd)
    with runtime_logging(_RuntimeHandler(log), request.param):
        yield log


def lambda_handler(**values: Any) -> LambdaHandler:
    """The function as Lambda builds it (after the runtime has set up logging), with these settings."""
    return build_handler(Settings(runtime="LAMBDA", aws_api_gw_stage_name=STAGE, **values))  # type: ignore[arg-type]


def token_event(form: dict[str, str]) -> dict[str, Any]:
    """The real password grant event, carrying `form` instead."""
    event = copy.deepcopy(PASSWORD_GRANT_EVENT)
    body = urlencode(form).encode()
    event["body"] = base64.b64encode(body).decode()
    event["headers"]["content-length"] = str(len(body))
    return event


def call(handler: LambdaHandler, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    result = handler(event, FakeContext())
    return result["statusCode"], json.loads(result["body"])


def password_form() -> dict[str, str]:
    return {"grant_type": "password", "username": ADMIN.username, "password": ADMIN.password}


def refresh_form(grant: dict[str, Any]) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}


def post_token(client: TestClient, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/auth/token", data=form)
    return response.status_code, response.json()


def tokens_of(grant: dict[str, Any]) -> list[str]:
    """Each token in a grant, and a JWT's signature, which is secret on its own (the emulator's tokens have none)."""
    tokens = [grant["access_token"], grant["refresh_token"]]
    signatures = [token.rsplit(".", 1)[1] for token in tokens if token.count(".") == 2]
    return tokens + [signature for signature in signatures if signature]


def assert_carries_none(log: FunctionLog, secrets: list[str]) -> None:
    text = log.text()
    assert text, "nothing reached the log: the capture is broken"
    for secret in secrets:
        assert secret not in text


def secure_token_url(host: str) -> str:
    """The Secure Token API's token endpoint, the key in its query as Google documents it."""
    return f"http://{host}/securetoken.googleapis.com/v1/token?key={QUERY_KEY}"


def test_a_firebase_sign_in_and_refresh_leave_no_secret_in_the_log(
    firebase_emulator: FirebaseAuthEmulator, function_log: FunctionLog
) -> None:
    wrong_password = "Wrong-password-9"
    with TestClient(build_app(**firebase_settings(firebase_emulator))) as client:
        status, grant = post_token(client, password_form())
        assert status == 200, grant
        refreshed_status, refreshed = post_token(client, refresh_form(grant))
        refused_status, _ = post_token(client, {**password_form(), "password": wrong_password})

    assert refreshed_status == 200, refreshed
    assert refused_status == 400
    secrets = [API_KEY, ADMIN.password, wrong_password, *tokens_of(grant), *tokens_of(refreshed)]
    assert_carries_none(function_log, secrets)


def emulator_refresh_token(emulator: FirebaseAuthEmulator) -> dict[str, Any]:
    """A grant of the emulator's own, signed in through the app in RUNTIME=LOCAL."""
    with TestClient(build_app(**firebase_settings(emulator))) as client:
        status, grant = post_token(client, password_form())
    assert status == 200, grant
    return grant


def test_a_token_endpoint_with_its_key_in_the_query_leaves_no_key_in_the_log(
    firebase_emulator: FirebaseAuthEmulator, function_log: FunctionLog
) -> None:
    # A refresh token of the emulator's own, to hand to its Secure Token endpoint.
    signed_in = emulator_refresh_token(firebase_emulator)
    handler = lambda_handler(
        identity_provider="oidc",
        oidc_client_id="fastapi-lambda",
        oidc_token_url=secure_token_url(firebase_emulator.host),
        jwt_issuer=firebase_emulator.issuer,
        jwt_audience=firebase_emulator.project_id,
    )

    status, grant = call(handler, token_event(refresh_form(signed_in)))

    assert status == 200, grant
    assert_carries_none(function_log, [QUERY_KEY, ADMIN.password, *tokens_of(signed_in), *tokens_of(grant)])


@pytest.fixture(scope="module")
def extension(moto_endpoint: str) -> Iterator[SecretsExtensionStandIn]:
    with secrets_extension(moto_endpoint, session_token=SESSION_TOKEN) as stand_in:
        yield stand_in


def test_a_cognito_sign_in_with_a_client_secret_leaves_no_secret_in_the_log(
    cognito_pool: CognitoUserPool,
    extension: SecretsExtensionStandIn,
    function_log: FunctionLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Lambda sets the execution environment's session token; the extension checks it.
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    arn = extension.create_secret(f"cognito-client-{free_port()}", cognito_pool.secret_client_secret)
    handler = lambda_handler(
        **cognito_settings(
            cognito_pool,
            cognito_user_pool_client_id=cognito_pool.secret_client_id,
            cognito_user_pool_client_secret_arn=arn,
            parameters_secrets_extension_http_port=extension.port,
            jwt_audience=cognito_pool.secret_client_id,
        )
    )

    status, grant = call(handler, PASSWORD_GRANT_EVENT)

    assert status == 200, grant
    assert extension.reads.count(arn) == 1
    # Nothing failed, so no line has reason to name the secret, not even by its ARN: the read's query value.
    arn_in_the_query = quote(arn, safe="")
    secrets = [cognito_pool.secret_client_secret, SESSION_TOKEN, ADMIN.password, arn, arn_in_the_query]
    secrets += tokens_of(grant)
    assert_carries_none(function_log, secrets)


@pytest.mark.parametrize("provider", ["firebase", "oidc with its key in the query"])
@pytest.mark.parametrize("failure", ["unreachable", "5xx"])
def test_a_provider_failure_logs_its_one_line_and_no_secret(
    provider: str,
    failure: str,
    function_log: FunctionLog,
    closed_port: str,
    canned_server: Callable[..., str],
) -> None:
    host = closed_port if failure == "unreachable" else canned_server(500, b'{"error": "internal"}')
    common = {"jwt_issuer": "https://issuer.example.test", "jwt_audience": "api", "provider_timeout_seconds": 2.0}
    if provider == "firebase":
        # The emulator's host names where every call goes; only RUNTIME=LOCAL takes it.
        with TestClient(
            build_app(**{**firebase_settings(FirebaseAuthEmulator(host, "demo-down")), **common})
        ) as client:
            status, body = post_token(client, password_form())
    else:
        handler = lambda_handler(
            **common, identity_provider="oidc", oidc_client_id="fastapi-lambda", oidc_token_url=secure_token_url(host)
        )
        status, body = call(handler, PASSWORD_GRANT_EVENT)

    assert status == (503 if failure == "unreachable" else 502), body
    (line,) = function_log.service_lines("service.identity")
    assert line.levelno == logging.WARNING
    assert line.getMessage().startswith("identity provider")
    assert_carries_none(function_log, [API_KEY, QUERY_KEY, ADMIN.password])


def test_make_devs_log_carries_no_secret_of_a_token_request(
    firebase_emulator: FirebaseAuthEmulator, tmp_path: Path
) -> None:
    signed_in = emulator_refresh_token(firebase_emulator)
    with running_dev_server(
        tmp_path,
        IDENTITY_PROVIDER="oidc",
        OIDC_CLIENT_ID="fastapi-lambda",
        OIDC_TOKEN_URL=secure_token_url(firebase_emulator.host),
        JWT_ISSUER=firebase_emulator.issuer,
        JWT_AUDIENCE=firebase_emulator.project_id,
    ) as url:
        refreshed = httpx.post(f"{url}/v1/auth/token", data=refresh_form(signed_in), timeout=10)
        # The Secure Token API has no password grant: refused one way or another, it logs no secret either.
        refused = httpx.post(f"{url}/v1/auth/token", data=password_form(), timeout=10)

    assert refreshed.status_code == 200, refreshed.text
    assert refused.status_code >= 400
    log = (tmp_path / "dev-server.log").read_text()
    assert "POST /v1/auth/token HTTP/1.1" in log  # the access log was written, and captured
    for secret in (QUERY_KEY, ADMIN.password, *tokens_of(signed_in), *tokens_of(refreshed.json())):
        assert secret not in log
