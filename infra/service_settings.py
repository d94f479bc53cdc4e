"""The function's environment, and the service's own validation of it at synth time.

The environment is what `service.core.settings.Settings` reads in Lambda. Building the
same `Settings` from it here means a configuration the service would refuse at cold start
fails `cdk synth` instead, with the service's message naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from service.core.settings import Settings, describe_validation_error

# Variables Lambda sets for every function; the service may require them, a template may not
# set them (they are reserved). Only used to validate the rest.
LAMBDA_RESERVED_VARIABLES = {"AWS_REGION": "set-by-lambda"}


class ServiceSettingsError(Exception):
    """The environment given to the function would stop the service at cold start."""


def service_environment(
    *,
    stage_name: str,
    identity_source: str,
    mapping_key: str,
    groups_claim: str,
    identity_provider: str,
    jwt_issuer: str,
    jwt_audience: tuple[str, ...],
    docs_enabled: bool,
    provider_timeout_seconds: float,
    provider_settings: Mapping[str, str | None],
    docs_assets_url: str | None = None,
) -> dict[str, str]:
    """The function's environment. `provider_settings` maps a variable to its value, None if unset."""
    environment = {
        "RUNTIME": "LAMBDA",
        "AWS_API_GW_STAGE_NAME": stage_name,
        "AWS_API_GW_MAPPING_KEY": mapping_key,
        "JWT_IDENTITY_SOURCE": identity_source,
        "JWT_AUTHORIZATION_GROUPS_ATTR_NAME": groups_claim,
        "IDENTITY_PROVIDER": identity_provider,
        "JWT_ISSUER": jwt_issuer,
        "JWT_AUDIENCE": ",".join(jwt_audience),
        "DOCS_ENABLED": "true" if docs_enabled else "false",
        "PROVIDER_TIMEOUT_SECONDS": f"{provider_timeout_seconds:g}",
    }
    if docs_assets_url:
        environment["DOCS_ASSETS_URL"] = docs_assets_url
    environment.update({name: value for name, value in sorted(provider_settings.items()) if value})
    return environment


class _SettingsFromMapping(Settings):
    """The service's settings read from the given values only, never from this process's environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_from_environment(environment: Mapping[str, str]) -> Settings:
    """The `Settings` the function will build at cold start, or ServiceSettingsError naming the variable."""
    values: dict[str, Any] = {
        name.lower(): value for name, value in {**LAMBDA_RESERVED_VARIABLES, **environment}.items()
    }
    try:
        return _SettingsFromMapping(**values)
    except ValidationError as error:
        raise ServiceSettingsError(
            f"the function's environment would stop the service at cold start: {describe_validation_error(error)}"
        ) from None
