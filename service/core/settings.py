"""Every setting the service reads, validated once at start-up.

The environment is read here and nowhere else in the service. `load_settings()` builds the
one instance an entry point uses; tests build their own `Settings(...)` and hand it to
`create_app`, so nothing global has to be patched. The app keeps its settings in its state,
and routes reach them through `get_settings`.
"""

# No `from __future__ import annotations` here: pydantic would evaluate the text of some 40
# annotations when the class is built, about 4 million instructions of every cold start.
import json
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from starlette.requests import Request


class Runtime(StrEnum):
    LAMBDA = "LAMBDA"
    LOCAL = "LOCAL"


class IdentityProviderName(StrEnum):
    LOCAL = "local"
    FIREBASE = "firebase"
    COGNITO = "cognito"
    OIDC = "oidc"


# The embedded development issuer's defaults. `.invalid` is a reserved TLD: the issuer is a
# name, not a host anyone can reach.
LOCAL_ISSUER = "https://local-idp.invalid"
LOCAL_AUDIENCE = "fastapi-lambda-local"

# The gateway gives the function at most 30 s ("Maximum integration timeout: 30 seconds", API
# Gateway developer guide, "Quotas for HTTP APIs"); a provider call must leave room for the rest.
MAX_PROVIDER_TIMEOUT_SECONDS = 25.0
# Lambda's synchronous invocation payload limit, for requests and responses alike ("6 MB each for
# synchronous", Lambda developer guide, "Lambda quotas").
# docs/aws-facts.md, row "Payload limit"
LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024


# A Secrets Manager secret's ARN, as the client secrets' `*_ARN` variables name them.
SECRET_ARN = re.compile(r"arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^\s]+")
# The port the AWS Parameters and Secrets Lambda Extension answers on unless told otherwise.
# docs/aws-facts.md, row "Secrets extension port"
SECRETS_EXTENSION_DEFAULT_PORT = 2773

# An identity source naming one request header (API Gateway's `$request.header.<name>`), the
# name an HTTP token (RFC 9110 section 5.1).
IDENTITY_SOURCE_HEADER = re.compile(r"\$request\.header\.([!#$%&'*+.^_`|~0-9A-Za-z-]+)")
# Where the HTTP API JWT authorizer reads the token unless told otherwise (API Gateway developer
# guide, "Controlling access to HTTP APIs with JWT authorizers": identity source, default
# `$request.header.Authorization`); the CDK construct keeps it and gives it to the function too.
# docs/aws-facts.md, row "Identity source"
IDENTITY_SOURCE = "$request.header.Authorization"

# A route key as API Gateway writes it: an HTTP method, one space, the path ("GET /v1/items").
ROUTE_KEY = re.compile(r"(GET|PUT|POST|DELETE|PATCH|OPTIONS|HEAD) /\S*")
# A scope's name (RFC 6749 section 3.3, scope-token: printable ASCII but space, `"` and `\`).
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# API Gateway accepts at most this many authorization scopes on a route ("Scopes per route: 10",
# not adjustable: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
# docs/aws-facts.md, row "Scopes per route"
MAX_ROUTE_SCOPES = 10
ROUTE_SCOPES_EXAMPLE = '{"GET /v1/items": ["items:write"]}'

# How the OIDC client authenticates at the token endpoint (RFC 6749 section 2.3.1).
OidcTokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]


class SettingsError(Exception):
    """A setting is missing or wrong. The message names the variable, never its value."""


class Settings(BaseModel):
    """Every setting, by field name: the environment variable of the same name in capitals (`from_environment`).

    A plain pydantic model reading `os.environ` itself rather than pydantic-settings' BaseSettings:
    the same validation at about 13 ms less of every cold start (issue 23, `make bench`).
    """

    # validate_default: defaults pass the validators too, as BaseSettings had them.
    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)
    # The empty list and dict defaults are plain values rather than `default_factory=list`:
    # pydantic copies a mutable default for each instance all the same, while a builtin as a
    # factory makes it read the builtin's text signature, which compiles `tokenize`'s regular
    # expressions: about 15 million instructions (3 ms) of every cold start (issue 23).

    runtime: Runtime = Runtime.LOCAL
    aws_api_gw_stage_name: str = "$default"
    aws_api_gw_mapping_key: str = ""
    jwt_authorization_groups_attr_name: str = Field(default="groups", min_length=1)
    # The JWT authorizer's identity source, which the CDK construct gives the authorizer and
    # this variable alike: the header whose token the authorizer verified, read by the app.
    jwt_identity_source: str = IDENTITY_SOURCE

    identity_provider: IdentityProviderName | None = None
    jwt_issuer: str | None = None
    jwt_audience: list[str] = []
    jwt_issuer_jwks_uri: str | None = None
    # How often an unknown `kid` may trigger a fresh fetch of the issuer's key set.
    jwks_refresh_interval_seconds: float = Field(default=300.0, ge=1.0)

    firebase_app_api_key: SecretStr | None = None
    # `host:port` of the Firebase Auth emulator, as Google's SDKs read it (no scheme).
    firebase_auth_emulator_host: str | None = None

    cognito_user_pool_client_id: str | None = None
    cognito_user_pool_client_secret: SecretStr | None = None
    cognito_user_pool_client_secret_arn: str | None = None
    aws_region: str | None = None
    aws_endpoint_url_cognito_idp: str | None = None
    # The AWS SDKs' own name for the Cognito user pools endpoint override.
    aws_endpoint_url_cognito_identity_provider: str | None = None
    aws_endpoint_url: str | None = None

    oidc_token_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_client_secret_arn: str | None = None
    oidc_token_auth_method: OidcTokenAuthMethod = "client_secret_basic"  # noqa: S105 - a method's name
    oidc_audience: str | None = None
    oidc_scope: str | None = None

    provider_timeout_seconds: float = Field(default=8.0, gt=0, le=MAX_PROVIDER_TIMEOUT_SECONDS)
    # How long a client secret read from Secrets Manager is used before it is read again
    # (a rotation is noticed sooner: the provider refusing the old value triggers a read).
    client_secret_cache_seconds: float = Field(default=300.0, ge=0)
    # Where the AWS Parameters and Secrets Lambda Extension listens: the extension's own variable.
    parameters_secrets_extension_http_port: int = Field(default=SECRETS_EXTENSION_DEFAULT_PORT, ge=1, le=65535)

    local_users_file: Path | None = None
    local_idp_key_file: Path = Path(".local/local-idp-key.pem")
    local_token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)

    docs_enabled: bool = True
    # Where the docs pages load Swagger UI (`swagger-ui-dist@5/...`) and ReDoc (`redoc@2/...`)
    # from: jsDelivr's npm mirror, or any server laying out the same npm packages the same way.
    docs_assets_url: str = "https://cdn.jsdelivr.net/npm"
    # The exact files the pages load, each with its subresource integrity, as JSON:
    # {"swagger-ui-dist@5.35.0/swagger-ui-bundle.js": "sha384-...", ...}, paths under
    # DOCS_ASSETS_URL. The CDK construct computes it at synth from the pinned packages
    # (infra/docs_assets.py), so the browser runs only those bytes. Empty: the major versions
    # FastAPI names (`swagger-ui-dist@5`, `redoc@2`), without integrity.
    docs_assets_integrity: dict[str, str] = {}
    # The largest request body the app reads; larger ones get 413 before any route runs.
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=0, le=LAMBDA_PAYLOAD_LIMIT_BYTES)
    # Origins allowed by CORS. In Lambda the HTTP API answers CORS (the CDK construct
    # configures it); in LOCAL the app plays the gateway and answers it itself.
    cors_allow_origins: list[str] = []
    # A deployment's scopes for some routes, replacing those the routes declare, as JSON:
    # {"GET /v1/items": ["items:write"]} ([] for any valid token). The CDK construct sets it
    # from the context key `route_scopes`, and `make dev` from the same context; only the
    # overrides travel, never the declared scopes (service/core/access/route_scopes.py).
    route_scopes: dict[str, tuple[str, ...]] = {}
    # FastAPI's native OpenTelemetry spans and metrics, for a function that ships an
    # OpenTelemetry SDK (the ADOT layer, say). Off, FastAPI skips asking the global
    # providers whether one is configured on every request (about 10 µs in Lambda); the
    # function's X-Ray tracing does not depend on it.
    fastapi_telemetry_enabled: bool = False

    @field_validator("jwt_audience", "cors_allow_origins", mode="before")
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("docs_assets_url")
    @classmethod
    def _assets_url_is_absolute(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL such as 'https://cdn.jsdelivr.net/npm'")
        return value.rstrip("/")

    @field_validator("docs_assets_integrity", mode="before")
    @classmethod
    def _integrity_is_json(cls, value: object) -> object:
        # Read here, from the environment's text, so the same message comes from any source.
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError:
                raise ValueError("must be a JSON object of file paths to 'sha384-...' digests") from None
        return value

    @field_validator("docs_assets_integrity")
    @classmethod
    def _integrity_names_versioned_files(cls, value: dict[str, str]) -> dict[str, str]:
        for path, integrity in value.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*@[0-9][0-9A-Za-z.+-]*/[A-Za-z0-9._/-]+", path):
                raise ValueError(f"{path!r} must be a package's file at its version, such as 'redoc@2.5.4/a.js'")
            if not re.fullmatch(r"sha(256|384|512)-[A-Za-z0-9+/]+={0,2}", integrity):
                raise ValueError(f"the integrity of {path!r} must be 'sha384-' and a base64 digest")
        return value

    @field_validator("route_scopes", mode="before")
    @classmethod
    def _route_scopes_are_route_keys_to_scopes(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError:
                value = None
        if not isinstance(value, dict) or not all(isinstance(scopes, list | tuple) for scopes in value.values()):
            raise ValueError(f"must be a JSON object of route keys to lists of scopes, such as {ROUTE_SCOPES_EXAMPLE}")
        for key, scopes in value.items():
            if not ROUTE_KEY.fullmatch(key):
                raise ValueError(f"{key!r} is not a route key: METHOD /path, as in {ROUTE_SCOPES_EXAMPLE}")
            if not all(isinstance(scope, str) and SCOPE_TOKEN.fullmatch(scope) for scope in scopes):
                raise ValueError(f"{key!r}: each scope must be a name without spaces or quotes, such as 'items:write'")
            if len(scopes) > MAX_ROUTE_SCOPES:
                raise ValueError(f"{key!r}: {len(scopes)} scopes, over API Gateway's {MAX_ROUTE_SCOPES} per route")
        return value

    @field_validator("aws_api_gw_mapping_key")
    @classmethod
    def _mapping_key_is_a_path(cls, value: str) -> str:
        key = value.strip("/")
        if any(not segment for segment in key.split("/")) and key:
            raise ValueError("must be a path such as 'api' or 'api/v1', without empty segments")
        return key

    @field_validator("aws_api_gw_stage_name")
    @classmethod
    def _stage_is_one_segment(cls, value: str) -> str:
        if not value or "/" in value:
            raise ValueError("must be a stage name such as 'mvp' or '$default'")
        return value

    @field_validator("jwt_identity_source")
    @classmethod
    def _identity_source_is_one_header(cls, value: str) -> str:
        # The app reads the verified token from that one header; a query string, a context
        # variable or several sources (an authorizer's IdentitySource may name any of them: API
        # Gateway's CreateAuthorizer reference) leave it nothing to read.
        if not IDENTITY_SOURCE_HEADER.fullmatch(value.strip()):
            raise ValueError("must be a single request header, such as '$request.header.Authorization'")
        return value.strip()

    @property
    def identity_header(self) -> str:
        """The name of the header `jwt_identity_source` names (validated as exactly one)."""
        return self.jwt_identity_source.removeprefix("$request.header.")

    @field_validator("firebase_auth_emulator_host")
    @classmethod
    def _emulator_host_is_host_port(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        host, _, port = value.strip().rpartition(":")
        if not host or "/" in value or not port.isdigit():
            raise ValueError("must be host:port, such as 127.0.0.1:9099, without a scheme")
        return value.strip()

    @field_validator("cognito_user_pool_client_secret_arn", "oidc_client_secret_arn")
    @classmethod
    def _is_a_secret_arn(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not SECRET_ARN.fullmatch(value.strip()):
            raise ValueError(
                "must be a Secrets Manager secret's ARN (arn:aws:secretsmanager:<region>:<account>:secret:...)"
            )
        return value.strip()

    @model_validator(mode="after")
    def _client_secrets_stay_out_of_the_function_configuration(self) -> Self:
        for plain, arn in (
            ("COGNITO_USER_POOL_CLIENT_SECRET", self.cognito_user_pool_client_secret_arn),
            ("OIDC_CLIENT_SECRET", self.oidc_client_secret_arn),
        ):
            if getattr(self, plain.lower()) is None:
                continue
            if arn is not None:
                raise ValueError(f"{plain}: set it or {plain}_ARN, not both")
            if self.runtime is Runtime.LAMBDA:
                # Anyone allowed lambda:GetFunctionConfiguration reads a function's environment.
                raise ValueError(
                    f"{plain}: not read in RUNTIME=LAMBDA, where the function's configuration would show it; "
                    f"set {plain}_ARN to the Secrets Manager secret holding it"
                )
        return self

    @model_validator(mode="after")
    def _resolve_identity_provider(self) -> Self:
        provider = self.identity_provider
        if provider is None:
            if self.runtime is Runtime.LAMBDA:
                raise ValueError("IDENTITY_PROVIDER: required when RUNTIME=LAMBDA")
            provider = IdentityProviderName.LOCAL
        if provider is IdentityProviderName.LOCAL and self.runtime is Runtime.LAMBDA:
            raise ValueError("IDENTITY_PROVIDER: 'local' is for development and never runs in Lambda")
        # frozen model: defaults that depend on other values are set once, here.
        object.__setattr__(self, "identity_provider", provider)
        if provider is IdentityProviderName.LOCAL:
            if self.jwt_issuer is None:
                object.__setattr__(self, "jwt_issuer", LOCAL_ISSUER)
            if not self.jwt_audience:
                object.__setattr__(self, "jwt_audience", [LOCAL_AUDIENCE])
        elif self.runtime is Runtime.LOCAL:
            # Locally the app verifies tokens itself, so it must know what to accept.
            self._require(provider, JWT_ISSUER=self.jwt_issuer, JWT_AUDIENCE=self.jwt_audience)
        if self.firebase_auth_emulator_host and self.runtime is Runtime.LAMBDA:
            # It would send passwords over plain HTTP to the emulator, whose tokens are unsigned.
            raise ValueError("FIREBASE_AUTH_EMULATOR_HOST: for RUNTIME=LOCAL only")
        if provider is IdentityProviderName.FIREBASE:
            self._require(provider, FIREBASE_APP_API_KEY=self.firebase_app_api_key)
        elif provider is IdentityProviderName.COGNITO:
            self._require(
                provider,
                COGNITO_USER_POOL_CLIENT_ID=self.cognito_user_pool_client_id,
                AWS_REGION=self.aws_region,
            )
        elif provider is IdentityProviderName.OIDC:
            self._require(provider, OIDC_CLIENT_ID=self.oidc_client_id)
            if not (self.oidc_token_url or self.jwt_issuer):
                raise ValueError("OIDC_TOKEN_URL: required unless JWT_ISSUER points at a discovery document")
        return self

    @staticmethod
    def _require(provider: IdentityProviderName, **values: object) -> None:
        for name, value in values.items():
            if not value:
                raise ValueError(f"{name}: required with IDENTITY_PROVIDER={provider.value}")

    @property
    def provider(self) -> IdentityProviderName:
        """The identity provider, resolved (never None after validation)."""
        assert self.identity_provider is not None
        return self.identity_provider

    @property
    def issuer(self) -> str:
        """The exact issuer a token must carry. Only meaningful where the app verifies tokens."""
        if self.jwt_issuer is None:
            raise SettingsError("JWT_ISSUER: required to verify tokens")
        return self.jwt_issuer


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, naming the environment variable and never echoing its value."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{location}: {message}" if location else message)
    return "invalid settings: " + "; ".join(lines)


def environment_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The values `environ` gives the settings, by field name: variable names match in any case."""
    by_name = {name.lower(): value for name, value in environ.items()}
    return {field: by_name[field] for field in Settings.model_fields if field in by_name}


def build_settings(**overrides: object) -> Settings:
    """Settings from the environment (and overrides), or SettingsError naming the variable."""
    try:
        return Settings.model_validate({**environment_values(os.environ), **overrides})
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process's settings, read from the environment once."""
    return build_settings()


def aws_session_token() -> str | None:
    """The execution environment's current session token, which the secrets extension asks for.

    Read at each use rather than once at start-up: a SnapStart snapshot is taken before the
    credentials that a restored environment runs with exist.
    """
    return os.environ.get("AWS_SESSION_TOKEN")


def get_settings(request: "Request") -> Settings:
    """The settings of the app serving `request` (a dependency: `SettingsDep`)."""
    settings: Settings = request.app.state.settings
    return settings
