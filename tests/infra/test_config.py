"""The deployment's configuration, from cdk.json and `-c` overrides."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import aws_logs as logs

from infra.config import ApiConfig, ConfigError
from tests.infra.conftest import CUSTOM_CONTEXT, cdk_json_context


def config(**overrides: Any) -> ApiConfig:
    return ApiConfig.from_context({**cdk_json_context(), **overrides})


def test_committed_defaults_are_a_valid_configuration() -> None:
    defaults = config()

    assert defaults.stage_name == "mvp"
    assert defaults.runtime == "python3.14"
    assert defaults.architecture == "arm64"
    assert defaults.timeout_seconds < 30
    assert defaults.docs_enabled is True
    assert defaults.domain_name is None


def test_command_line_strings_become_numbers_booleans_and_lists() -> None:
    parsed = config(**CUSTOM_CONTEXT)

    assert parsed.memory_mb == 1024
    assert parsed.throttling_rate_limit == 10.0
    assert parsed.docs_enabled is False
    assert parsed.cors_allow_origins == ("https://app.example.com", "https://admin.example.com")
    assert parsed.jwt_audience == ("client-one", "client-two")
    assert parsed.log_retention is logs.RetentionDays.THREE_MONTHS


def test_a_missing_key_is_named() -> None:
    context = cdk_json_context()
    del context["stage_name"]

    with pytest.raises(ConfigError, match=r"stage_name: missing"):
        ApiConfig.from_context(context)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timeout_seconds": "30"}, r"timeout_seconds: '30' is more than 29 \(accepted: from 1 to 29\)"),
        ({"timeout_seconds": "8"}, r"provider_timeout_seconds: must be less than timeout_seconds"),
        ({"cognito_client_secret_arn": "my-secret"}, r"cognito_client_secret_arn: "),
        ({"oidc_token_auth_method": "private_key_jwt"}, r"oidc_token_auth_method: "),
        ({"runtime": "python3.10"}, r"runtime: the service needs python3.11 or newer"),
        ({"architecture": "riscv"}, r"architecture: "),
        ({"log_retention_days": "31"}, r"log_retention_days: must be one of"),
        ({"cors_allow_origins": "https://app.example.com/path"}, r"cors_allow_origins: .*not an origin"),
        ({"jwt_issuer": "http://issuer.example.com"}, r"jwt_issuer: "),
        ({"jwt_audience": ""}, r"jwt_audience: "),
        ({"domain_name": "api.example.com"}, r"domain_name and certificate_arn: set both"),
        ({"mapping_key": "orders"}, r"mapping_key: only applies with a custom domain"),
        ({"stage_name": "$default"}, r"stage_name: "),
        ({"identity_provider": "local"}, r"identity_provider: "),
        ({"docs_assets_url": "/static"}, r"docs_assets_url: must be an absolute http\(s\) URL"),
    ],
)
def test_bad_values_stop_synth_naming_the_key(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**overrides)


def test_only_the_chosen_providers_settings_and_secrets_reach_the_function() -> None:
    oidc = config(
        identity_provider="oidc",
        oidc_client_id="client",
        oidc_token_auth_method="client_secret_post",
        oidc_client_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:oidc-AbCdEf",
        cognito_client_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:cognito-AbCdEf",
    )

    assert oidc.provider_settings == {
        "OIDC_TOKEN_URL": None,
        "OIDC_CLIENT_ID": "client",
        "OIDC_TOKEN_AUTH_METHOD": "client_secret_post",
        "OIDC_AUDIENCE": None,
        "OIDC_SCOPE": None,
    }
    assert oidc.provider_secret_arns == {
        "OIDC_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oidc-AbCdEf"
    }
    assert config().provider_secret_arns == {}


def test_cdk_feature_flags_in_the_same_context_are_left_alone() -> None:
    assert config(**{"@aws-cdk/core:someFlag": True}) == config()


def test_a_mapping_key_is_a_path_without_outer_slashes() -> None:
    parsed = config(
        domain_name="api.example.com", certificate_arn="arn:aws:acm:::certificate/x", mapping_key="/v1/api/"
    )

    assert parsed.mapping_key == "v1/api"
