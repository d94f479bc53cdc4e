"""The typed configuration of the deployments, built from CDK context.

`cdk.json` holds every key with its default; `cdk synth -c key=value` overrides one. `app.py`
reads the context and calls `ApiConfig.from_context` (one deployment: the stack a laptop
deploys), `PipelineConfig.from_context` (the pipeline and its environments, each an
`ApiConfig` of its own) and `BuildConfig.from_context` (how this machine builds the bundle);
nothing below it reads context or the environment. Values from `-c`
arrive as strings, so numbers, booleans and comma lists are parsed here, and a bad value stops
synth with a message naming the context key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Self

import annotated_types
from aws_cdk import aws_logs as logs
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from infra.route_scopes import read_known_scopes, read_route_scopes, route_scopes_problems

# API Gateway gives an integration at most 30 s; the function must give up before that.
# docs/aws-facts.md, row "Integration timeout"
MAX_FUNCTION_TIMEOUT_SECONDS = 29

# The service uses Python 3.11 features (StrEnum, typing.Self).
OLDEST_SUPPORTED_PYTHON = (3, 11)

# The retentions CloudWatch Logs accepts, by their number of days.
LOG_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


class ConfigError(Exception):
    """A context value is missing or wrong. The message, one line, names the context key."""


# CloudFormation's rule for a stack name: a letter, then letters, digits and hyphens, 128 at
# most (AWS CloudFormation User Guide, "Stack name"); the pipeline prefixes an environment's.
STACK_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9-]{0,99}$"


class ContextConfig(BaseModel):
    """Keys read from the CDK context, each a field of the same name; frozen, and no other key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_context(cls, context: Mapping[str, Any], *, key_prefix: str = "") -> Self:
        """The configuration from context values, or ConfigError naming each bad key (after `key_prefix`)."""
        values = {name: context[name] for name in cls.model_fields if name in context}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise ConfigError(describe_config_error(error, key_prefix=key_prefix, model=cls)) from None


class AppConfig(ContextConfig):
    """The app's own keys: what its stacks are called."""

    # The API stack's name, so two people can each deploy their own copy into one account
    # (`cdk deploy -c stack_name=alice-api`); the pipeline stack is named after it.
    stack_name: str = Field(pattern=STACK_NAME_PATTERN)

    @property
    def pipeline_stack_name(self) -> str:
        return f"{self.stack_name}Pipeline"


# Context keys the CDK itself owns: feature flags (`@aws-cdk/...`), the CLI's own
# (`aws:cdk:...`, `cli-telemetry`, `acknowledged-issue-numbers`) and cached lookups
# (`availability-zones:account=...`). Only the app's own keys are checked for spelling.
CDK_PLAIN_KEYS = frozenset({"cli-telemetry", "acknowledged-issue-numbers"})


def _is_cdk_key(name: str) -> bool:
    return name.startswith("@") or ":" in name or name in CDK_PLAIN_KEYS


def check_context_keys(context: Iterable[str], known: Iterable[str]) -> None:
    """ConfigError for the first key that is neither the app's nor the CDK's, with the closest known key."""
    known = sorted(known)
    unknown = sorted(name for name in context if name not in known and not _is_cdk_key(name))
    if not unknown:
        return
    name = unknown[0]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}?" if close else "the keys are those in cdk.json's context"
    raise ConfigError(f"invalid CDK context: {name}: not a context key of this app; {hint}")


def _comma_list(value: object) -> object:
    """`-c key=a,b` gives a string; cdk.json gives a list. Both become a tuple."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _blank_is_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _off_is_none(value: object) -> object:
    """`""`, `off` or `none` switch a limit off (0 is not off: it would refuse every invocation)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off", "none")):
        return None
    return value


def _is_secret_arn(value: str | None) -> str | None:
    if value is not None and not re.match(r"arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:.+", value):
        raise ValueError(
            "must be a Secrets Manager secret's ARN (arn:aws:secretsmanager:<region>:<account>:secret:...)"
        )
    return value


def _is_kms_key_arn(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"arn:aws[\w-]*:kms:[\w-]+:\d{12}:key/[\w-]+", value):
        raise ValueError("must be a KMS key's ARN (arn:aws:kms:<region>:<account>:key/<id>)")
    return value


def _is_layer_version_arn(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"arn:aws[\w-]*:lambda:[\w-]+:\d{12}:layer:[\w-]+:\d+", value):
        raise ValueError("must be a Lambda layer version's ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<n>)")
    return value


def _is_topic_arn(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w.-]{1,256}", value):
        raise ValueError("must be an SNS topic's ARN (arn:aws:sns:<region>:<account>:<name>)")
    return value


def _matches_url() -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://\S+", value):
            raise ValueError("must be an absolute http(s) URL such as 'https://cdn.jsdelivr.net/npm', or be empty")
        return value

    return AfterValidator(check)


def _name_value_pairs(value: object) -> object:
    """`-c function_environment=A=1,B=2` gives a string; cdk.json gives an object. Values become strings."""
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(not separator for _, separator, _ in pairs):
            raise ValueError("must be NAME=value pairs separated by commas, or an object in cdk.json")
        return {name.strip(): text for name, _, text in pairs}
    if isinstance(value, Mapping):
        return {name: ("true" if v else "false") if isinstance(v, bool) else str(v) for name, v in value.items()}
    return value


# Lambda reserves these names for its own variables (AWS Lambda Developer Guide, "Defined
# runtime environment variables"): _HANDLER, AWS_REGION, AWS_LAMBDA_*, LAMBDA_TASK_ROOT...
# docs/aws-facts.md, row "Reserved environment variables"
RESERVED_VARIABLE_PREFIXES = ("_", "AWS_", "LAMBDA_")


def _are_service_variables(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise ValueError(f"{name!r} is not a variable name (capital letters, digits and _)")
        if name.startswith(RESERVED_VARIABLE_PREFIXES):
            raise ValueError(f"{name}: Lambda reserves names starting with {', '.join(RESERVED_VARIABLE_PREFIXES)}")
    return value


CommaList = Annotated[tuple[str, ...], BeforeValidator(_comma_list)]
# More of the service's settings, passed to the function as its environment variables.
ServiceVariables = Annotated[dict[str, str], BeforeValidator(_name_value_pairs), AfterValidator(_are_service_variables)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none)]
RouteScopes = Annotated[dict[str, tuple[str, ...]], BeforeValidator(read_route_scopes)]
KnownScopes = Annotated[dict[str, str], BeforeValidator(read_known_scopes)]
# A client secret stays in Secrets Manager: context names it, the template only refers to it.
SecretArn = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_is_secret_arn)]
KmsKeyArn = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_is_kms_key_arn)]
TopicArn = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_is_topic_arn)]
LayerVersionArn = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_is_layer_version_arn)]
# A concurrency limit, or None for none.
OptionalLimit = Annotated[Annotated[int, Field(ge=1)] | None, BeforeValidator(_off_is_none)]


class ApiConfig(ContextConfig):
    """Every choice a deployment makes. Field names are the context keys."""

    # The function.
    runtime: str = Field(pattern=r"^python3\.\d+$")
    architecture: Literal["arm64", "x86_64"]
    memory_mb: int = Field(ge=128, le=10240)
    timeout_seconds: int = Field(ge=1, le=MAX_FUNCTION_TIMEOUT_SECONDS)
    provider_timeout_seconds: float = Field(gt=0)
    log_retention_days: int
    # The most concurrent executions the function may take of the account's, None for no reservation.
    reserved_concurrency: OptionalLimit

    # The HTTP API.
    stage_name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")
    throttling_rate_limit: float = Field(gt=0)
    throttling_burst_limit: int = Field(ge=0)
    # The token route's own throttle, below the stage's: sign-ins are the flood target.
    token_throttling_rate_limit: float = Field(gt=0)
    token_throttling_burst_limit: int = Field(ge=0)
    cors_allow_origins: CommaList
    docs_enabled: bool
    # Where the docs pages load Swagger UI and ReDoc from (DOCS_ASSETS_URL); None: the service's default CDN.
    docs_assets_url: Annotated[str | None, BeforeValidator(_blank_is_none), _matches_url()] = None
    domain_name: OptionalText
    certificate_arn: OptionalText
    mapping_key: OptionalText
    # With a custom domain the execute-api endpoint is disabled; true keeps it (clients not yet moved).
    keep_execute_api_endpoint: bool = False
    # API Gateway's routes-per-API quota (300); set to the figure AWS raised it to for this API.
    http_api_max_routes: int = Field(default=300, ge=1)

    # Who signs the tokens the gateway accepts, and the service's side of the same provider.
    identity_provider: Literal["firebase", "cognito", "oidc"]
    jwt_issuer: str = Field(pattern=r"^https://\S+$")
    jwt_audience: CommaList = Field(min_length=1)
    jwt_groups_claim: str = Field(min_length=1)
    firebase_app_api_key: OptionalText
    cognito_user_pool_client_id: OptionalText
    cognito_client_secret_arn: SecretArn
    oidc_token_url: OptionalText
    oidc_client_id: OptionalText
    oidc_client_secret_arn: SecretArn
    # How long the function keeps a client secret it read before reading it again.
    client_secret_cache_seconds: float = Field(ge=0)
    # The customer-managed key the client secrets are encrypted with, if not Secrets Manager's own.
    secrets_kms_key_arn: KmsKeyArn
    # The Parameters and Secrets extension's layer, instead of the one aws-cdk-lib's table names.
    params_and_secrets_layer_arn: LayerVersionArn
    oidc_token_auth_method: Annotated[
        Literal["client_secret_basic", "client_secret_post"] | None, BeforeValidator(_blank_is_none)
    ]
    oidc_audience: OptionalText
    oidc_scope: OptionalText

    # How a new version reaches the alias: shifted by CodeDeploy as a canary, rolled back on alarm.
    canary: bool

    # The standing alarms (infra/constructs/monitoring.py) and where they notify: an SNS topic's
    # ARN (the pipeline's notifications topic, say), or none for a topic of the stack's own.
    alarm_topic_arn: TopicArn = None
    # The share of the stage's answers that may be 5xx, in percent.
    alarm_server_error_percent: float = Field(default=5, gt=0, le=100)
    # The stage's p99 latency (API Gateway's Latency), in milliseconds.
    alarm_latency_p99_ms: float = Field(default=2500, gt=0)
    # The share of the function's invocations Lambda may throttle, in percent.
    alarm_throttle_percent: float = Field(default=1, gt=0, le=100)
    # How a rise in 401/403 on the authorized routes is told: an anomaly-detection band
    # (`alarm_auth_refusal_band` standard deviations) or a fixed rate (`alarm_auth_refusal_percent`).
    alarm_auth_refusals: Literal["anomaly", "rate"] = "anomaly"
    alarm_auth_refusal_band: float = Field(default=3, gt=0)
    alarm_auth_refusal_percent: float = Field(default=20, gt=0, le=100)

    # The service's own settings that no key above sets, as its environment variables
    # ({"ORDERS_PAGE_SIZE": "100"}; docs/recipes.md, "Add a setting"). The service validates
    # them at synth, as it will at cold start.
    function_environment: ServiceVariables = Field(default_factory=dict)

    # A route's scopes for this deployment, replacing those the service declares
    # ({"GET /v1/items": ["items:write"]}; [] for any valid token), and the scopes they may ask
    # for beyond the service's KNOWN_SCOPES, each with what it grants (infra/route_scopes.py;
    # docs/access.md, "Two models").
    route_scopes: Annotated[dict[str, tuple[str, ...]], BeforeValidator(read_route_scopes)] = Field(
        default_factory=dict
    )
    known_scopes: Annotated[dict[str, str], BeforeValidator(read_known_scopes)] = Field(default_factory=dict)

    @field_validator("runtime")
    @classmethod
    def _runtime_runs_the_service(cls, value: str) -> str:
        major, minor = (int(part) for part in value.removeprefix("python").split("."))
        if (major, minor) < OLDEST_SUPPORTED_PYTHON:
            raise ValueError("the service needs python3.11 or newer")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_one_cloudwatch_accepts(cls, value: int) -> int:
        if value not in LOG_RETENTION:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION))}")
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins_are_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin such as 'https://app.example.com' (no path)")
        return value

    @field_validator("mapping_key")
    @classmethod
    def _mapping_key_is_a_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        key = value.strip("/")
        if not re.fullmatch(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*", key):
            raise ValueError("must be a path such as 'api' or 'api/v1'")
        return key

    @model_validator(mode="after")
    def _provider_answers_before_the_function_times_out(self) -> Self:
        if self.provider_timeout_seconds >= self.timeout_seconds:
            raise ValueError("provider_timeout_seconds: must be less than timeout_seconds, or the function dies first")
        return self

    @model_validator(mode="after")
    def _token_route_throttle_is_below_the_stage_default(self) -> Self:
        if self.token_throttling_rate_limit > self.throttling_rate_limit:
            raise ValueError("token_throttling_rate_limit: must not exceed throttling_rate_limit, the stage default")
        if self.token_throttling_burst_limit > self.throttling_burst_limit:
            raise ValueError("token_throttling_burst_limit: must not exceed throttling_burst_limit, the stage default")
        return self

    @model_validator(mode="after")
    def _domain_settings_go_together(self) -> Self:
        if bool(self.domain_name) != bool(self.certificate_arn):
            raise ValueError("domain_name and certificate_arn: set both for a custom domain, or neither")
        if self.mapping_key and not self.domain_name:
            raise ValueError("mapping_key: only applies with a custom domain (domain_name)")
        return self

    @model_validator(mode="after")
    def _route_scopes_are_known_and_few(self) -> Self:
        problems = route_scopes_problems(self.route_scopes, self.known_scopes)
        if problems:
            raise ValueError("route_scopes: " + "; ".join(problems))
        return self

    @property
    def log_retention(self) -> logs.RetentionDays:
        return LOG_RETENTION[self.log_retention_days]

    @property
    def provider_settings(self) -> dict[str, str | None]:
        """The chosen identity provider's own variables for the service; other providers' stay out."""
        by_provider: dict[str, dict[str, str | None]] = {
            "firebase": {"FIREBASE_APP_API_KEY": self.firebase_app_api_key},
            "cognito": {"COGNITO_USER_POOL_CLIENT_ID": self.cognito_user_pool_client_id},
            "oidc": {
                "OIDC_TOKEN_URL": self.oidc_token_url,
                "OIDC_CLIENT_ID": self.oidc_client_id,
                "OIDC_TOKEN_AUTH_METHOD": self.oidc_token_auth_method,
                "OIDC_AUDIENCE": self.oidc_audience,
                "OIDC_SCOPE": self.oidc_scope,
            },
        }
        return by_provider[self.identity_provider]

    @property
    def provider_secret_arns(self) -> dict[str, str]:
        """The chosen provider's `*_SECRET_ARN` variables, each naming the Secrets Manager secret the function reads."""
        by_provider = {
            "cognito": {"COGNITO_USER_POOL_CLIENT_SECRET_ARN": self.cognito_client_secret_arn},
            "oidc": {"OIDC_CLIENT_SECRET_ARN": self.oidc_client_secret_arn},
        }
        chosen = by_provider.get(self.identity_provider, {})
        return {name: arn for name, arn in chosen.items() if arn}

    @property
    def python_version(self) -> str:
        """`3.14` for `python3.14`."""
        return self.runtime.removeprefix("python")


class BuildConfig(ContextConfig):
    """How this machine builds the function's bundle: the same for every deployment it synthesizes.

    Not a deployment's choice, so no environment overrides these keys. `bytecode_python` has
    no entry in cdk.json on purpose: a path is one machine's, set with `-c` or in the user's
    own `~/.cdk.json`, whose context a key in the project's cdk.json would shadow.
    """

    # An interpreter of the runtime's version to compile the bytecode with (a path, or a
    # command on PATH); empty: find one (infra/bytecode.py).
    bytecode_python: OptionalText = None
    # A bundle without bytecode fails the synth instead of warning: for pipelines.
    require_bytecode: bool = False


# The pipeline exists when all three are set, and not at all when none is.
PIPELINE_SWITCHES = ("github_repository", "github_branch", "codestar_connection_arn")

# An environment's own keys; every other key in its entry overrides the ApiConfig key of that name.
ENVIRONMENT_KEYS = ("account", "region", "manual_approval", "smoke_user_secret_arn", "hook_user_secret_arn")

# A connection's ARN names the account and region it lives in (CodeConnections, formerly CodeStar Connections).
CONNECTION_ARN = re.compile(
    r"arn:(?P<partition>aws[\w-]*):(?:codestar-connections|codeconnections):(?P<region>[a-z0-9-]+):(?P<account>\d{12}):connection/[\w-]+"
)


def _matches(pattern: str, example: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and not re.fullmatch(pattern, value):
            raise ValueError(f"must look like {example!r}, or be empty")
        return value

    return AfterValidator(check)


# Empty means "the pipeline's own".
Account = Annotated[str | None, BeforeValidator(_blank_is_none), _matches(r"\d{12}", "123456789012")]
Region = Annotated[str | None, BeforeValidator(_blank_is_none), _matches(r"[a-z]{2}(-[a-z]+)+-\d", "eu-west-1")]


def _is_complete_secret_arn(value: str | None) -> str | None:
    # IAM matches a secret's ARN whole: the complete one ends in the six characters Secrets
    # Manager adds to the name (AWS, "Secrets Manager ARNs" in the IAM section of its guide).
    complete = r"arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}"
    if value is not None and not re.fullmatch(complete, value):
        raise ValueError(
            "must be a secret's complete ARN, as `aws secretsmanager describe-secret` prints it "
            "(arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>)"
        )
    return value


CompleteSecretArn = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_is_complete_secret_arn)]


class EnvironmentConfig(BaseModel):
    """One stage of the pipeline: where it deploys, whether a person approves first, and its API's configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Becomes the pipeline stage's name and its stack's name prefix.
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
    # None: the pipeline's own account or region.
    account: Account = None
    region: Region = None
    manual_approval: bool = False
    # The smoke test's user, {"username", "password", "groups"?} in Secrets Manager, in the
    # pipeline's account and region (its step runs there); None: unauthenticated checks only.
    smoke_user_secret_arn: CompleteSecretArn = None
    # The same user for the deployment hooks, which run in the environment's account and region:
    # a secret there; None: smoke_user_secret_arn (readable only when the environment is the pipeline's).
    hook_user_secret_arn: CompleteSecretArn = None
    api: ApiConfig

    @property
    def hooks_user_secret_arn(self) -> str | None:
        """The secret the deployment hooks read their test user from."""
        return self.hook_user_secret_arn or self.smoke_user_secret_arn


class PipelineConfig(BaseModel):
    """The delivery pipeline: its source, who hears about its runs, and the environments it deploys, in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    github_repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    github_branch: str = Field(min_length=1)
    codestar_connection_arn: str
    notification_emails: CommaList = ()
    slack_workspace_id: OptionalText = None
    slack_channel_id: OptionalText = None
    environments: tuple[EnvironmentConfig, ...] = Field(min_length=1)

    @field_validator("codestar_connection_arn")
    @classmethod
    def _is_a_connection_arn(cls, value: str) -> str:
        if not CONNECTION_ARN.fullmatch(value):
            raise ValueError(
                "must be a connection's ARN (arn:aws:codeconnections:<region>:<account>:connection/<id>, "
                "or the older codestar-connections form)"
            )
        return value

    @field_validator("notification_emails")
    @classmethod
    def _emails_are_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for email in value:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                raise ValueError(f"{email!r} is not an email address")
        return value

    @model_validator(mode="after")
    def _slack_settings_go_together(self) -> Self:
        if bool(self.slack_workspace_id) != bool(self.slack_channel_id):
            raise ValueError("slack_workspace_id and slack_channel_id: set both for Slack notifications, or neither")
        return self

    @model_validator(mode="after")
    def _one_runtime_for_every_environment(self) -> Self:
        runtimes = sorted({environment.api.runtime for environment in self.environments})
        if len(runtimes) > 1:
            raise ValueError(
                f"environments: all must use one runtime, not {' and '.join(runtimes)}: the pipeline's build runs "
                "one Python, the runtime's, so that every bundle ships bytecode (a new runtime reaches staging "
                "first anyway, the pipeline's stages run in order)"
            )
        return self

    @property
    def python_version(self) -> str:
        """The Python every environment's function runs, and so the one the pipeline's build runs."""
        return self.environments[0].api.python_version

    @property
    def account(self) -> str:
        """The pipeline's account: the connection's, the only one that may use it."""
        match = CONNECTION_ARN.fullmatch(self.codestar_connection_arn)
        assert match is not None  # validated above
        return match["account"]

    @property
    def region(self) -> str:
        """The pipeline's region: the connection's."""
        match = CONNECTION_ARN.fullmatch(self.codestar_connection_arn)
        assert match is not None
        return match["region"]

    @property
    def partition(self) -> str:
        """The pipeline's partition (aws, aws-cn...): the connection's."""
        match = CONNECTION_ARN.fullmatch(self.codestar_connection_arn)
        assert match is not None
        return match["partition"]

    @property
    def slack_channel(self) -> tuple[str, str] | None:
        """(workspace id, channel id) when Slack notifications are configured."""
        if self.slack_workspace_id and self.slack_channel_id:
            return self.slack_workspace_id, self.slack_channel_id
        return None

    @classmethod
    def from_context(cls, context: Mapping[str, Any], *, api_context: Mapping[str, Any]) -> Self | None:
        """The pipeline, or None when none of its switches is set.

        `context` holds this class's keys; `api_context` the ApiConfig keys every environment
        starts from before its own entry in `environments` overrides some of them.
        """
        switches = {name: context.get(name) for name in PIPELINE_SWITCHES}
        missing = [name for name, value in switches.items() if value is None or not str(value).strip()]
        if len(missing) == len(PIPELINE_SWITCHES):
            return None
        if missing:
            raise ConfigError(
                f"invalid CDK context: {', '.join(missing)}: missing; the pipeline needs "
                f"{', '.join(PIPELINE_SWITCHES)} together (or none of them, for no pipeline)"
            )
        values = {name: context[name] for name in cls.model_fields if name in context}
        values["environments"] = _environments(context.get("environments"), api_context)
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise ConfigError(describe_config_error(error, model=cls)) from None


def _environments(entries: object, api_context: Mapping[str, Any]) -> tuple[EnvironmentConfig, ...]:
    """`{"staging": {"account": ..., "stage_name": ...}, ...}` in order, each ApiConfig complete."""
    if isinstance(entries, str):
        raise ConfigError("invalid CDK context: environments: must be an object, which only cdk.json can hold")
    if not isinstance(entries, Mapping) or not entries:
        raise ConfigError("invalid CDK context: environments: missing; the pipeline needs at least one environment")
    environments = []
    for name, entry in entries.items():
        where = f"environments.{name}."
        if not isinstance(entry, Mapping):
            raise ConfigError(f"invalid CDK context: {where[:-1]}: must be an object of context keys")
        unknown = sorted(set(entry) - set(ENVIRONMENT_KEYS) - set(ApiConfig.model_fields))
        if unknown:
            raise ConfigError(f"invalid CDK context: {where}{unknown[0]}: not a context key an environment can set")
        overrides = {key: value for key, value in entry.items() if key not in ENVIRONMENT_KEYS}
        api = ApiConfig.from_context({**api_context, **overrides}, key_prefix=where)
        own = {key: entry[key] for key in ENVIRONMENT_KEYS if key in entry}
        try:
            environments.append(EnvironmentConfig.model_validate({"name": name, "api": api, **own}))
        except ValidationError as error:
            raise ConfigError(describe_config_error(error, key_prefix=where, model=EnvironmentConfig)) from None
    return tuple(environments)


# The accepted values of the keys whose rule is a pattern or a union, in plain words; the
# others' are read from their declaration (a range, a set of choices).
ACCEPTED = {
    "stack_name": "a letter, then letters, digits and hyphens, 100 at most (a CloudFormation stack name)",
    "runtime": "a Lambda Python runtime such as python3.13",
    "stage_name": "letters, digits, - and _, 128 at most",
    "jwt_issuer": "an https:// URL",
    "reserved_concurrency": "a whole number of at least 1, or off for none: 0 would refuse every call",
    "github_repository": "owner/name",
    "name": "a letter, then letters, digits and hyphens, 64 at most",
}

# Pydantic's error types, in plain words. `{...}` are the error's own details.
PLAIN_PROBLEMS = {
    "int_parsing": "not a whole number",
    "int_from_float": "not a whole number",
    "float_parsing": "not a number",
    "bool_parsing": "not true or false",
    "literal_error": "not one of the accepted values",
    "string_pattern_mismatch": "not in the accepted form",
    "greater_than_equal": "less than {ge}",
    "greater_than": "not more than {gt}",
    "less_than_equal": "more than {le}",
    "less_than": "not less than {lt}",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
    "string_type": "not text",
}


def _declared_range(model: type[BaseModel] | None, name: str) -> str | None:
    """`from 128 to 10240` for a field declared with bounds, else None."""
    field = model.model_fields.get(name) if model is not None else None
    if field is None:
        return None
    bounds = {}
    for constraint in field.metadata:
        for kind in ("ge", "gt", "le", "lt"):
            if isinstance(constraint, getattr(annotated_types, kind.capitalize())):
                bounds[kind] = getattr(constraint, kind)
    low = f"{bounds['ge']:g}" if "ge" in bounds else f"more than {bounds['gt']:g}" if "gt" in bounds else None
    high = f"{bounds['le']:g}" if "le" in bounds else f"below {bounds['lt']:g}" if "lt" in bounds else None
    if low and high:
        return f"from {low} to {high}"
    return f"at least {low}" if low else f"at most {high}" if high else None


def _accepted(problem: Mapping[str, Any], model: type[BaseModel] | None, name: str) -> str | None:
    if name in ACCEPTED:
        return ACCEPTED[name]
    if problem["type"] == "literal_error":
        return str(problem["ctx"]["expected"])
    if problem["type"] == "bool_parsing":
        return "true or false"
    return _declared_range(model, name)


def describe_config_error(error: ValidationError, *, key_prefix: str = "", model: type[BaseModel] | None = None) -> str:
    """One line: each bad key with its value, what is wrong with it in plain words, and the accepted values."""
    lines = []
    for problem in error.errors(include_url=False):
        name = ".".join(str(part) for part in problem["loc"])
        key = (key_prefix + name).rstrip(".")
        if problem["type"] == "missing":
            lines.append(f"{key}: missing: set it in cdk.json's context or with -c")
            continue
        if problem["type"] == "value_error":
            # Our own validators' messages, already in plain words.
            message = str(problem["msg"]).removeprefix("Value error, ")
            lines.append(f"{key}: {message}" if key else message)
            continue
        plain = PLAIN_PROBLEMS.get(problem["type"])
        words = plain.format(**problem.get("ctx", {})) if plain else str(problem["msg"])
        accepted = _accepted(problem, model, name)
        value = problem.get("input")
        stated = f"{value!r} is {words}" if isinstance(value, str | int | float) else words
        lines.append(f"{key}: {stated}" + (f" (accepted: {accepted})" if accepted else ""))
    return "invalid CDK context: " + "; ".join(lines)
