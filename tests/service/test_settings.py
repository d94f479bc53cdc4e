"""Settings are validated once at start-up; a bad value stops it with the variable's name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.core.settings import (
    LOCAL_AUDIENCE,
    LOCAL_ISSUER,
    IdentityProviderName,
    Runtime,
    SettingsError,
    build_settings,
)

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_give_a_working_local_setup() -> None:
    settings = build_settings()
    assert settings.runtime is Runtime.LOCAL
    assert settings.provider is IdentityProviderName.LOCAL
    assert settings.jwt_issuer == LOCAL_ISSUER
    assert settings.jwt_audience == [LOCAL_AUDIENCE]
    assert settings.jwt_authorization_groups_attr_name == "groups"


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME", "LAMBDA")
    monkeypatch.setenv("IDENTITY_PROVIDER", "cognito")
    monkeypatch.setenv("COGNITO_USER_POOL_CLIENT_ID", "client-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("JWT_AUDIENCE", "client-1, client-2")
    monkeypatch.setenv("AWS_API_GW_STAGE_NAME", "prod")
    monkeypatch.setenv("AWS_API_GW_MAPPING_KEY", "/shop/")
    monkeypatch.setenv("JWT_AUTHORIZATION_GROUPS_ATTR_NAME", "cognito:groups")
    settings = build_settings()
    assert settings.runtime is Runtime.LAMBDA
    assert settings.jwt_audience == ["client-1", "client-2"]
    assert settings.aws_api_gw_stage_name == "prod"
    assert settings.aws_api_gw_mapping_key == "shop"
    assert settings.jwt_authorization_groups_attr_name == "cognito:groups"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RUNTIME": "SERVERLESS"}, "RUNTIME"),
        ({"IDENTITY_PROVIDER": "ldap"}, "IDENTITY_PROVIDER"),
        ({"RUNTIME": "LAMBDA"}, "IDENTITY_PROVIDER"),
        ({"RUNTIME": "LAMBDA", "IDENTITY_PROVIDER": "local"}, "IDENTITY_PROVIDER"),
        ({"AWS_API_GW_STAGE_NAME": "a/b"}, "AWS_API_GW_STAGE_NAME"),
        ({"AWS_API_GW_MAPPING_KEY": "a//b"}, "AWS_API_GW_MAPPING_KEY"),
        ({"LOCAL_TOKEN_TTL_SECONDS": "soon"}, "LOCAL_TOKEN_TTL_SECONDS"),
        ({"PROVIDER_TIMEOUT_SECONDS": "60"}, "PROVIDER_TIMEOUT_SECONDS"),
        ({"DOCS_ENABLED": "perhaps"}, "DOCS_ENABLED"),
        ({"JWT_AUTHORIZATION_GROUPS_ATTR_NAME": ""}, "JWT_AUTHORIZATION_GROUPS_ATTR_NAME"),
        ({"IDENTITY_PROVIDER": "firebase", "JWT_ISSUER": "https://securetoken.google.com/p"}, "JWT_AUDIENCE"),
        ({"IDENTITY_PROVIDER": "firebase", "JWT_AUDIENCE": "p"}, "JWT_ISSUER"),
        # The app reads the verified token from one request header: nothing else will do.
        ({"JWT_IDENTITY_SOURCE": "$request.querystring.token"}, "JWT_IDENTITY_SOURCE"),
        ({"JWT_IDENTITY_SOURCE": "$request.header.Authorization,$request.header.X-Id"}, "JWT_IDENTITY_SOURCE"),
        ({"JWT_IDENTITY_SOURCE": "$context.authorizer.token"}, "JWT_IDENTITY_SOURCE"),
        ({"JWT_IDENTITY_SOURCE": "Authorization"}, "JWT_IDENTITY_SOURCE"),
        ({"JWT_IDENTITY_SOURCE": "$request.header."}, "JWT_IDENTITY_SOURCE"),
    ],
)
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=variable):
        build_settings()


@pytest.mark.parametrize("source", ["$request.header.Authorization", "$request.header.X-Id-Token"])
def test_the_identity_source_names_one_request_header(monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    monkeypatch.setenv("JWT_IDENTITY_SOURCE", source)
    assert build_settings().jwt_identity_source == source


def test_the_message_never_echoes_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME", "LAMBDA")
    monkeypatch.setenv("IDENTITY_PROVIDER", "firebase")
    monkeypatch.setenv("FIREBASE_APP_API_KEY", "AIza-very-secret")
    monkeypatch.setenv("PROVIDER_TIMEOUT_SECONDS", "1000")
    with pytest.raises(SettingsError) as raised:
        build_settings()
    assert "AIza-very-secret" not in str(raised.value)
    assert "1000" not in str(raised.value)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"RUNTIME", "IDENTITY_PROVIDER"}}
    env.update(extra)
    return env


def test_make_dev_entry_point_stops_with_the_variable_named() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service.runtime.local", "--port", "1"],
        cwd=ROOT,
        env=clean_env(RUNTIME="SOMETHING"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "RUNTIME" in result.stderr
    assert "Traceback" not in result.stderr


def test_lambda_entry_point_refuses_to_start_outside_runtime_lambda() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import service.runtime.aws_lambda"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "RUNTIME: must be LAMBDA" in result.stderr
