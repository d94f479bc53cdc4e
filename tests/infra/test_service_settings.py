"""The function's environment is checked by the service's own settings at synth time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import ApiConfig, ConfigError
from infra.service_settings import ServiceSettingsError, service_environment, settings_from_environment
from service.core.settings import Runtime
from tests.infra.conftest import synthesize
from tests.support import committed_context


def environment(**overrides: Any) -> dict[str, str]:
    values: dict[str, Any] = {
        "stage_name": "mvp",
        "identity_source": "$request.header.Authorization",
        "mapping_key": "",
        "groups_claim": "groups",
        "identity_provider": "firebase",
        "jwt_issuer": "https://securetoken.google.com/demo-project",
        "jwt_audience": ("demo-project",),
        "docs_enabled": True,
        "provider_timeout_seconds": 8.0,
        "provider_settings": {"FIREBASE_APP_API_KEY": "demo-api-key", "OIDC_CLIENT_ID": None},
    }
    values.update(overrides)
    return service_environment(**values)


def test_environment_carries_the_gateway_values_and_only_set_provider_settings() -> None:
    assert environment(jwt_audience=("one", "two")) == {
        "RUNTIME": "LAMBDA",
        "AWS_API_GW_STAGE_NAME": "mvp",
        "AWS_API_GW_MAPPING_KEY": "",
        "JWT_IDENTITY_SOURCE": "$request.header.Authorization",
        "JWT_AUTHORIZATION_GROUPS_ATTR_NAME": "groups",
        "IDENTITY_PROVIDER": "firebase",
        "JWT_ISSUER": "https://securetoken.google.com/demo-project",
        "JWT_AUDIENCE": "one,two",
        "DOCS_ENABLED": "true",
        "PROVIDER_TIMEOUT_SECONDS": "8",
        "FIREBASE_APP_API_KEY": "demo-api-key",
    }


def test_a_docs_assets_mirror_reaches_the_function_only_where_one_is_configured() -> None:
    mirror = environment(docs_assets_url="https://mirror.example.com/npm")

    assert mirror["DOCS_ASSETS_URL"] == "https://mirror.example.com/npm"
    assert settings_from_environment(mirror).docs_assets_url == "https://mirror.example.com/npm"
    assert "DOCS_ASSETS_URL" not in environment()


def test_the_service_reads_the_environment_as_lambda_will() -> None:
    settings = settings_from_environment(environment(jwt_audience=("one", "two"), docs_enabled=False))

    assert settings.runtime is Runtime.LAMBDA
    assert settings.aws_api_gw_stage_name == "mvp"
    assert settings.jwt_audience == ["one", "two"]
    assert settings.docs_enabled is False


def test_a_setting_the_service_would_refuse_fails_synth_naming_the_variable() -> None:
    broken = environment(identity_provider="oidc", provider_settings={})

    with pytest.raises(ServiceSettingsError, match="OIDC_CLIENT_ID"):
        settings_from_environment(broken)


@pytest.mark.parametrize("identity_source", ["$request.querystring.token", "$request.header.A,$request.header.B"])
def test_an_identity_source_that_is_not_one_header_fails_synth(identity_source: str) -> None:
    """The function could not read the verified token: it would refuse to start, so synth refuses first."""
    with pytest.raises(ServiceSettingsError, match="JWT_IDENTITY_SOURCE: must be a single request header"):
        settings_from_environment(environment(identity_source=identity_source))


def test_the_synthesizing_shell_does_not_leak_into_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the function sees is the template's environment; a developer's shell must not change the routes.
    monkeypatch.setenv("DOCS_ENABLED", "false")
    monkeypatch.setenv("AWS_API_GW_STAGE_NAME", "other")

    settings = settings_from_environment(environment())

    assert settings.docs_enabled is True
    assert settings.aws_api_gw_stage_name == "mvp"


# A setting of the service's own (docs/recipes.md, "Add a setting"): context key `function_environment`.


def test_a_service_setting_from_context_reaches_the_function(tmp_path: Path) -> None:
    synth = synthesize(tmp_path, function_environment={"JWKS_REFRESH_INTERVAL_SECONDS": 60})

    assert synth.function_environment["JWKS_REFRESH_INTERVAL_SECONDS"] == "60"


def test_a_service_setting_from_the_command_line_is_name_value_pairs() -> None:
    config = ApiConfig.from_context({**committed_context(), "function_environment": "A_B=1,DEBUG_SQL=true"})

    assert config.function_environment == {"A_B": "1", "DEBUG_SQL": "true"}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"JWKS_REFRESH_INTERVAL_SECONDS": "0"}, r"JWKS_REFRESH_INTERVAL_SECONDS"),
        ({"JWT_ISSUER": "https://elsewhere.example.com"}, r"function_environment: JWT_ISSUER is set from another"),
        ({"AWS_REGION": "eu-west-1"}, r"function_environment: AWS_REGION: Lambda reserves names"),
        ({"lower": "1"}, r"function_environment: 'lower' is not a variable name"),
    ],
)
def test_a_service_setting_the_service_or_lambda_would_refuse_fails_synth(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    with pytest.raises((ConfigError, ServiceSettingsError), match=message):
        synthesize(tmp_path, function_environment=variables)
