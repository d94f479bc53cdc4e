"""The function's environment, and the service's own validation of it at synth time.

The environment is what `service.core.settings.Settings` reads in Lambda. Building the
same `Settings` from it here means a configuration the service would refuse at cold start
fails `cdk synth` instead, with the service's message naming the variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import ValidationError

from infra.route_scopes import route_scopes_variable
from service.core.settings import Settings, describe_validation_error, environment_values

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
    docs_assets_integrity: Mapping[str, str] | None = None,
    route_scopes: Mapping[str, tuple[str, ...]] | None = None,
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
    if docs_enabled and docs_assets_integrity:
        integrity = dict(sorted(docs_assets_integrity.items()))
        environment["DOCS_ASSETS_INTEGRITY"] = json.dumps(integrity, separators=(",", ":"))
    if route_scopes:
        # Only the overrides: the service has its declarations (infra/route_scopes.py).
        environment["ROUTE_SCOPES"] = route_scopes_variable(route_scopes)
    environment.update({name: value for name, value in sorted(provider_settings.items()) if value})
    return environment


def settings_from_environment(environment: Mapping[str, str]) -> Settings:
    """The `Settings` the function will build at cold start, or ServiceSettingsError naming the variable."""
    try:
        # The given values only, never this process's environment.
        return Settings.model_validate(environment_values({**LAMBDA_RESERVED_VARIABLES, **environment}))
    except ValidationError as error:
        raise ServiceSettingsError(
            f"the function's environment would stop the service at cold start: {describe_validation_error(error)}"
        ) from None
