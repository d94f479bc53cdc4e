"""The pipeline's configuration: three keys switch it on, cdk.json's environments shape its stages."""

from __future__ import annotations

from typing import Any

import pytest

from app import _given_on_the_command_line
from infra.config import ApiConfig, ConfigError, PipelineConfig
from tests.infra.conftest import cdk_json_context
from tests.pipeline.conftest import CONNECTION_ARN, PIPELINE_CONTEXT, STAGING_HOOK_USER_SECRET_ARN

SWITCHES = {
    "github_repository": "acme/orders-api",
    "github_branch": "main",
    "codestar_connection_arn": CONNECTION_ARN,
}


def pipeline_config(**overrides: Any) -> PipelineConfig | None:
    """As app.py builds it: the pipeline's keys and the API keys every environment starts from."""
    context = {**cdk_json_context(), **overrides}
    api_context = {name: context[name] for name in ApiConfig.model_fields if name in context}
    return PipelineConfig.from_context(context, api_context=api_context)


def configured(**overrides: Any) -> PipelineConfig:
    config = pipeline_config(**{**SWITCHES, **overrides})
    assert config is not None
    return config


def test_cdk_json_as_committed_has_no_pipeline() -> None:
    assert pipeline_config() is None


def test_the_committed_environments_are_staging_then_an_approved_production() -> None:
    config = configured()
    staging, production = config.environments

    assert (staging.name, staging.manual_approval, staging.api.stage_name, staging.api.docs_enabled) == (
        "staging",
        False,
        "staging",
        True,
    )
    assert (production.name, production.manual_approval, production.api.stage_name) == ("production", True, "prod")
    assert production.api.docs_enabled is False
    assert staging.api.canary is production.api.canary is True
    # Unset: the pipeline's own account and region, which the connection names.
    assert (staging.account, staging.region) == (None, None)
    assert (config.account, config.region) == ("111111111111", "eu-west-1")
    assert config.python_version == "3.14"
    assert config.slack_channel is None
    assert config.notification_emails == ()


def test_an_environment_starts_from_the_top_level_keys() -> None:
    config = configured(memory_mb="1024", jwt_issuer="https://issuer.example.com")

    assert {environment.api.memory_mb for environment in config.environments} == {1024}
    assert {environment.api.jwt_issuer for environment in config.environments} == {"https://issuer.example.com"}


def test_the_older_codestar_connections_arn_works_too() -> None:
    arn = "arn:aws:codestar-connections:us-east-2:444455556666:connection/abc-123"

    config = configured(codestar_connection_arn=arn)

    assert (config.account, config.region) == ("444455556666", "us-east-2")


@pytest.mark.parametrize("missing", sorted(SWITCHES))
def test_some_but_not_all_switches_is_an_error_naming_the_missing_one(missing: str) -> None:
    given = {key: value for key, value in SWITCHES.items() if key != missing}

    with pytest.raises(ConfigError, match=rf"{missing}: missing; the pipeline needs"):
        pipeline_config(**given)


def environments(**production: Any) -> dict[str, Any]:
    committed: dict[str, Any] = cdk_json_context()["environments"]
    return {**committed, "production": {**committed["production"], **production}}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"github_repository": "orders-api"}, r"github_repository: "),
        ({"codestar_connection_arn": "arn:aws:iam::111111111111:role/x"}, r"codestar_connection_arn: must be a"),
        ({"notification_emails": "ops"}, r"notification_emails: 'ops' is not an email address"),
        ({"slack_workspace_id": "T0123"}, r"slack_workspace_id and slack_channel_id: set both"),
        ({"environments": {}}, r"environments: missing"),
        ({"environments": "staging,production"}, r"environments: must be an object"),
        ({"environments": environments(stage_nam="prod")}, r"environments\.production\.stage_nam: not a context key"),
        ({"environments": environments(stage_name="$default")}, r"environments\.production\.stage_name: "),
        ({"environments": environments(timeout_seconds=8)}, r"environments\.production: provider_timeout_seconds"),
        ({"environments": environments(account="prod")}, r"environments\.production\.account: must look like"),
        ({"environments": environments(region="Europe")}, r"environments\.production\.region: must look like"),
        ({"environments": environments(runtime="python3.13")}, r"environments: all must use one runtime"),
        ({"environments": {"prod env": {}}}, r"environments\.prod env\.name: "),
        (
            # A name alone: IAM would match no secret, so the smoke step could not read it.
            {
                "environments": environments(
                    smoke_user_secret_arn="arn:aws:secretsmanager:eu-west-1:111111111111:secret:smoke"
                )
            },
            r"environments\.production\.smoke_user_secret_arn: must be a secret's complete ARN",
        ),
        (
            {"environments": environments(smoke_user_secret_arn="smoke-user")},
            r"environments\.production\.smoke_user_secret_arn: must be a secret's complete ARN",
        ),
    ],
)
def test_bad_values_stop_synth_naming_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        configured(**overrides)


def test_the_pipelines_own_synth_repeats_only_what_cdk_json_does_not_say() -> None:
    committed = cdk_json_context()
    context = {
        **SWITCHES,
        "notification_emails": ("ops@example.com", "oncall@example.com"),
        "slack_channel_id": committed["slack_channel_id"],
        "environments": committed["environments"],
    }

    given = _given_on_the_command_line(context)

    # What cdk.json says, the build reads from the checkout; -c would freeze it at the deployed value.
    assert given == {**SWITCHES, "notification_emails": "ops@example.com,oncall@example.com"}


def test_the_hooks_read_their_own_copy_of_the_test_user_where_given_else_the_smoke_steps() -> None:
    # Staging's entry in the pipeline's context names both; production's neither.
    staging, production = configured(environments=PIPELINE_CONTEXT["environments"]).environments

    assert staging.hooks_user_secret_arn == STAGING_HOOK_USER_SECRET_ARN != staging.smoke_user_secret_arn
    assert production.hooks_user_secret_arn is None
    without_copy = staging.model_copy(update={"hook_user_secret_arn": None})
    assert without_copy.hooks_user_secret_arn == staging.smoke_user_secret_arn
