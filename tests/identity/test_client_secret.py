"""Client secrets read at run time by ARN, through the Parameters and Secrets extension's localhost API.

The extension is played by a loopback server with moto's Secrets Manager behind it
(`tests/identity/secrets_extension.py`); Cognito is moto's, which verifies SECRET_HASH, so
a wrong or missing value fails the sign-in for real.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from service.core.http import SharedHttpClient
from service.core.identity.client_secret import SecretsManagerClientSecret
from service.core.identity.cognito import _refuses_the_secret_hash
from service.core.identity.provider_http import ProviderAnswer
from service.core.settings import Settings, SettingsError, build_settings
from service.runtime.lambda_adapter import build_handler
from tests.identity.conftest import ADMIN, bearer, build_app, cognito_settings, refresh_request, token_request
from tests.identity.secrets_extension import SecretsExtensionStandIn, secrets_extension
from tests.identity.standins import CognitoUserPool
from tests.identity.test_oidc import CLIENT_ID, FakeOAuthServer, oidc_settings, with_transport
from tests.support import assert_oauth_error, free_port

SESSION_TOKEN = "session-token-of-this-execution-environment"
STAND_IN_LOGGERS = ("botocore", "boto3", "urllib3")


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def extension(moto_endpoint: str) -> Iterator[SecretsExtensionStandIn]:
    with secrets_extension(moto_endpoint, session_token=SESSION_TOKEN) as stand_in:
        yield stand_in


@pytest.fixture(autouse=True)
def session_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda sets the execution environment's session token; the extension checks it."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)


def cognito_secret_settings(
    pool: CognitoUserPool, extension: SecretsExtensionStandIn, **overrides: Any
) -> dict[str, Any]:
    """The pool's app client with a secret, its value in Secrets Manager."""
    arn = extension.create_secret(f"cognito-client-{free_port()}", pool.secret_client_secret)
    return cognito_settings(
        pool,
        cognito_user_pool_client_id=pool.secret_client_id,
        cognito_user_pool_client_secret_arn=arn,
        parameters_secrets_extension_http_port=extension.port,
        jwt_audience=pool.secret_client_id,
        **overrides,
    )


def reads_of(extension: SecretsExtensionStandIn, settings: dict[str, Any]) -> int:
    return extension.reads.count(settings["cognito_user_pool_client_secret_arn"])


def test_the_secret_is_read_on_the_first_token_request_and_then_from_the_cache(
    cognito_pool: CognitoUserPool, extension: SecretsExtensionStandIn
) -> None:
    settings = cognito_secret_settings(cognito_pool, extension)
    with TestClient(build_app(**settings)) as client:
        assert client.get("/v1/manage/hc").status_code == 200
        assert reads_of(extension, settings) == 0  # not at start-up, not for other routes

        grant = token_request(client, ADMIN)
        assert grant.status_code == 200, grant.text
        assert reads_of(extension, settings) == 1

        # moto verifies SECRET_HASH on refresh too: the cached value is the right one.
        refreshed = refresh_request(client, grant.json()["refresh_token"])
        assert refreshed.status_code == 200
        assert token_request(client, ADMIN).status_code == 200
        assert reads_of(extension, settings) == 1
        assert client.get("/v1/users/whoami", headers=bearer(refreshed.json()["access_token"])).status_code == 200


def test_an_expired_cache_reads_the_secret_again(
    cognito_pool: CognitoUserPool, extension: SecretsExtensionStandIn
) -> None:
    settings = cognito_secret_settings(cognito_pool, extension, client_secret_cache_seconds=0)
    with TestClient(build_app(**settings)) as client:
        assert token_request(client, ADMIN).status_code == 200
        assert token_request(client, ADMIN).status_code == 200

    assert reads_of(extension, settings) == 2


def test_the_cache_lasts_its_configured_time(extension: SecretsExtensionStandIn) -> None:
    arn = extension.create_secret(f"timed-{free_port()}", "first-value")
    now = [1000.0]
    secret = SecretsManagerClientSecret(
        arn=arn,
        http=SharedHttpClient(timeout_seconds=5),
        port=extension.port,
        cache_seconds=300,
        provider="oidc",
        clock=lambda: now[0],
    )

    async def values_over_time() -> list[str]:
        first = await secret.value()
        extension.rotate(arn, "second-value")
        now[0] += 299
        cached = await secret.value()
        now[0] += 2
        return [first, cached, await secret.value()]

    assert asyncio.run(values_over_time()) == ["first-value", "first-value", "second-value"]
    assert extension.reads.count(arn) == 2


def test_the_extension_refuses_a_request_without_the_environments_session_token(
    cognito_pool: CognitoUserPool, extension: SecretsExtensionStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stand-in, like the extension, answers only a request carrying this environment's
    # session token in X-Aws-Parameters-Secrets-Token; another gets nothing, and no sign-in happens.
    settings = cognito_secret_settings(cognito_pool, extension)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "another-environments-token")
    with TestClient(build_app(**settings)) as client:
        response = token_request(client, ADMIN)

    assert response.status_code == 503
    assert reads_of(extension, settings) == 0


@pytest.mark.parametrize(
    ("case", "expected_reason"),
    [
        ("no such secret", "ResourceNotFoundException"),
        ("extension not running", "cannot be reached"),
    ],
)
def test_a_secret_that_cannot_be_read_is_503_and_one_log_line(
    cognito_pool: CognitoUserPool,
    extension: SecretsExtensionStandIn,
    caplog: pytest.LogCaptureFixture,
    case: str,
    expected_reason: str,
) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nobody-made-me-AbCdEf"
    port = extension.port if case == "no such secret" else free_port()
    settings = cognito_settings(
        cognito_pool,
        cognito_user_pool_client_id=cognito_pool.secret_client_id,
        cognito_user_pool_client_secret_arn=arn,
        parameters_secrets_extension_http_port=port,
    )
    with caplog.at_level(logging.DEBUG), TestClient(build_app(**settings)) as client:
        response = token_request(client, ADMIN)

    assert_oauth_error(response, status=503, error="temporarily_unavailable", code="provider_unavailable")
    assert response.headers["retry-after"]
    assert "traceback" not in response.text.lower()
    (line,) = [r for r in caplog.records if r.name == "service.identity"]
    assert line.levelno == logging.ERROR
    assert arn in line.getMessage()
    assert expected_reason in line.getMessage()


def test_nothing_of_the_value_reaches_a_log_or_a_response(
    cognito_pool: CognitoUserPool, extension: SecretsExtensionStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    settings = cognito_secret_settings(cognito_pool, extension)
    with caplog.at_level(logging.DEBUG), TestClient(build_app(**settings)) as client:
        bodies = [token_request(client, ADMIN).text, refresh_request(client, "not-a-refresh-token").text]
        bodies.append(client.post("/v1/auth/token", data={"username": ADMIN.username}).text)

    secret_value = cognito_pool.secret_client_secret
    # Everything the service's process logs; boto3, which the stand-in uses, logs what it fetches.
    service_logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(STAND_IN_LOGGERS))
    assert reads_of(extension, settings) == 1
    # Not even the read's request line, which names the secret in its query (service/core/http.py).
    assert "secretsmanager/get" not in service_logs
    assert secret_value not in service_logs
    assert all(secret_value not in body for body in bodies)


def test_cognito_refusing_the_secret_hash_is_told_apart_from_a_wrong_password() -> None:
    # Cognito's own words for the two (moto answers both with NotAuthorizedException, but
    # puts the hash itself in the message, so this is checked against Cognito's text).
    hash_refused = ProviderAnswer(
        status_code=400,
        body={"__type": "NotAuthorizedException", "message": "Unable to verify secret hash for client 1example23"},
        headers={},
    )
    password_refused = ProviderAnswer(
        status_code=400,
        body={"__type": "NotAuthorizedException", "message": "Incorrect username or password."},
        headers={},
    )

    assert _refuses_the_secret_hash(hash_refused)
    assert not _refuses_the_secret_hash(password_refused)


class RotatingOAuthServer(FakeOAuthServer):
    """The OAuth server accepts one client secret at a time; the extension's requests reach the stand-in."""

    accepted_secret: str = ""
    extension_port: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "localhost":
            forwarded = httpx.get(
                str(request.url.copy_with(host="127.0.0.1", port=self.extension_port)), headers=request.headers
            )
            return httpx.Response(forwarded.status_code, headers=forwarded.headers, content=forwarded.content)
        if request.method == "POST":
            client_id, _, secret = base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
            if (unquote_plus(client_id), unquote_plus(secret)) != (CLIENT_ID, self.accepted_secret):
                self.token_requests.append(request)
                return httpx.Response(401, json={"error": "invalid_client", "error_description": "Bad client"})
        return super().handle(request)


def test_a_rotated_secret_is_read_again_when_the_provider_refuses_the_cached_one(
    signing_key: rsa.RSAPrivateKey, extension: SecretsExtensionStandIn
) -> None:
    arn = extension.create_secret(f"oidc-client-{free_port()}", "secret-before-rotation")
    server = RotatingOAuthServer(signing_key)
    server.accepted_secret, server.extension_port = "secret-before-rotation", extension.port
    settings = oidc_settings(
        oidc_client_secret=None, oidc_client_secret_arn=arn, parameters_secrets_extension_http_port=extension.port
    )
    with TestClient(with_transport(build_app(**settings), server.handle)) as client:
        assert token_request(client, ADMIN).status_code == 200
        # The rotation: the server takes the new secret, Secrets Manager holds it; the cache still has the old.
        server.accepted_secret = "secret-after-rotation"
        extension.rotate(arn, "secret-after-rotation")
        sent_before = len(server.token_requests)

        response = token_request(client, ADMIN)

        assert response.status_code == 200
        assert len(server.token_requests) - sent_before == 2  # refused with the old, then accepted
        assert extension.reads.count(arn) == 2
        assert token_request(client, ADMIN).status_code == 200
        assert extension.reads.count(arn) == 2  # the new value is cached


def test_a_wrong_secret_that_has_not_changed_is_not_sent_twice(
    signing_key: rsa.RSAPrivateKey, extension: SecretsExtensionStandIn
) -> None:
    arn = extension.create_secret(f"oidc-wrong-{free_port()}", "not-what-the-server-takes")
    server = RotatingOAuthServer(signing_key)
    server.accepted_secret, server.extension_port = "the-real-one", extension.port
    settings = oidc_settings(
        oidc_client_secret=None, oidc_client_secret_arn=arn, parameters_secrets_extension_http_port=extension.port
    )
    with TestClient(with_transport(build_app(**settings), server.handle)) as client:
        response = token_request(client, ADMIN)

    assert_oauth_error(response, status=502, error="server_error", code="provider_error")
    assert len(server.token_requests) == 1
    assert extension.reads.count(arn) == 2  # read, refused, read again: unchanged, so not retried


def test_the_lambda_handler_reads_the_secret_on_the_token_request_only(
    cognito_pool: CognitoUserPool, extension: SecretsExtensionStandIn
) -> None:
    from tests.service.test_lambda_handler import FakeContext
    from tests.support import load_event

    values = cognito_secret_settings(cognito_pool, extension)
    handler = build_handler(Settings(runtime="LAMBDA", aws_api_gw_stage_name="mvp", **values))  # type: ignore[arg-type]
    assert handler(load_event("health_named_stage.json"), FakeContext())["statusCode"] == 200
    assert reads_of(extension, values) == 0

    result = handler(load_event("token_password_grant.json"), FakeContext())

    assert result["statusCode"] == 200, result
    assert reads_of(extension, values) == 1


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {
                "RUNTIME": "LAMBDA",
                "IDENTITY_PROVIDER": "oidc",
                "OIDC_CLIENT_ID": "c",
                "OIDC_TOKEN_URL": "https://i/t",
                "OIDC_CLIENT_SECRET": "s",
            },
            "OIDC_CLIENT_SECRET: not read in RUNTIME=LAMBDA",
        ),
        (
            {
                "IDENTITY_PROVIDER": "oidc",
                "JWT_ISSUER": "https://i",
                "JWT_AUDIENCE": "a",
                "OIDC_CLIENT_ID": "c",
                "OIDC_CLIENT_SECRET": "s",
                "OIDC_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
            },
            "OIDC_CLIENT_SECRET: set it or OIDC_CLIENT_SECRET_ARN, not both",
        ),
        (
            {
                "RUNTIME": "LAMBDA",
                "IDENTITY_PROVIDER": "cognito",
                "COGNITO_USER_POOL_CLIENT_ID": "c",
                "AWS_REGION": "eu-west-1",
                "COGNITO_USER_POOL_CLIENT_SECRET_ARN": "my-secret",
            },
            "COGNITO_USER_POOL_CLIENT_SECRET_ARN: must be a Secrets Manager secret's ARN",
        ),
    ],
)
def test_settings_keep_secrets_out_of_the_function_configuration(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], message: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=message):
        build_settings()
