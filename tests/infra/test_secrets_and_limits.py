"""The synthesized function holds no secret, may read exactly its own, and cannot take the account's concurrency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.config import ApiConfig, ConfigError
from infra.constructs.lambda_api import PARAMS_AND_SECRETS_VERSION
from tests.infra.conftest import CUSTOM_CONTEXT, Synthesized, cdk_json_context, synthesize

OIDC_SECRET_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:orders/oidc-client-Q1w2E3"
KMS_KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
LAYER_ARN = "arn:aws:lambda:eu-central-1:187925254637:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:12"

# A confidential OIDC client, its secret under a customer-managed key, the layer named by hand,
# no reserved concurrency, and a token route throttled harder than the defaults.
OIDC_CONTEXT = {
    "identity_provider": "oidc",
    "jwt_issuer": "https://idp.example.com/realms/orders",
    "jwt_audience": "orders-api",
    "oidc_client_id": "orders-api",
    "oidc_token_url": "https://idp.example.com/realms/orders/protocol/openid-connect/token",
    "oidc_client_secret_arn": OIDC_SECRET_ARN,
    "secrets_kms_key_arn": KMS_KEY_ARN,
    "params_and_secrets_layer_arn": LAYER_ARN,
    "client_secret_cache_seconds": "120",
    "reserved_concurrency": "",
    "token_throttling_rate_limit": "2",
    "token_throttling_burst_limit": "4",
}


@pytest.fixture(scope="module")
def oidc_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("oidc-secret"), **OIDC_CONTEXT)


def function(synth: Synthesized) -> dict[str, Any]:
    properties: dict[str, Any] = synth.only("AWS::Lambda::Function")["Properties"]
    return properties


def statements(synth: Synthesized) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = synth.only("AWS::IAM::Policy")["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_no_template_refers_to_a_secrets_value(custom_synth: Synthesized, oidc_synth: Synthesized) -> None:
    for synth in (custom_synth, oidc_synth):
        text = json.dumps(synth.template_json)
        assert "resolve:secretsmanager" not in text
        assert "SecretString" not in text
        # Only the ARN: no variable that would carry a value once deployed.
        names = set(synth.function_environment)
        assert not {name for name in names if name.endswith("_SECRET")}


def test_the_function_is_told_where_its_secret_is_and_how_long_to_keep_it(
    custom_synth: Synthesized, oidc_synth: Synthesized
) -> None:
    assert (
        custom_synth.function_environment["COGNITO_USER_POOL_CLIENT_SECRET_ARN"]
        == (CUSTOM_CONTEXT["cognito_client_secret_arn"])
    )
    oidc = oidc_synth.function_environment
    assert oidc["OIDC_CLIENT_SECRET_ARN"] == OIDC_SECRET_ARN
    assert oidc["CLIENT_SECRET_CACHE_SECONDS"] == "120"
    # One cache, the service's: the extension reads Secrets Manager every time it is asked.
    assert oidc["PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED"] == "false"
    assert oidc["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] == "2773"


def test_the_grant_names_exactly_the_configured_secret(custom_synth: Synthesized, oidc_synth: Synthesized) -> None:
    for synth, arn in ((custom_synth, CUSTOM_CONTEXT["cognito_client_secret_arn"]), (oidc_synth, OIDC_SECRET_ARN)):
        reads = [s for s in statements(synth) if "secretsmanager" in json.dumps(s["Action"])]
        assert reads == [{"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": arn}]


def test_kms_decrypt_only_where_a_customer_key_is_configured(
    custom_synth: Synthesized, oidc_synth: Synthesized
) -> None:
    assert not [s for s in statements(custom_synth) if "kms" in json.dumps(s["Action"])]
    (decrypt,) = [s for s in statements(oidc_synth) if "kms" in json.dumps(s["Action"])]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Resource"] == KMS_KEY_ARN
    assert decrypt["Condition"] == {
        "StringEquals": {
            "kms:ViaService": {"Fn::Join": ["", ["secretsmanager.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
        }
    }


def test_the_extension_layer_comes_from_cdks_table_or_from_context(
    custom_synth: Synthesized, oidc_synth: Synthesized
) -> None:
    (layer,) = function(custom_synth)["Layers"]
    mapping, _, key = layer["Fn::FindInMap"]
    version = PARAMS_AND_SECRETS_VERSION.value.removeprefix("V").replace("_", "x")
    assert key == f"{version}xx86x64"  # custom_synth's architecture
    eu_west_1 = custom_synth.template_json["Mappings"][mapping]["eu-west-1"][key]
    assert eu_west_1.startswith(
        "arn:aws:lambda:eu-west-1:015030872274:layer:AWS-Parameters-and-Secrets-Lambda-Extension:"
    )

    assert function(oidc_synth)["Layers"] == [LAYER_ARN]


def test_without_a_secret_there_is_no_layer_and_no_grant(default_synth: Synthesized) -> None:
    assert "Layers" not in function(default_synth)
    assert not [name for name in default_synth.function_environment if name.startswith("PARAMETERS_SECRETS")]
    assert not [s for s in statements(default_synth) if "secretsmanager" in json.dumps(s["Action"])]


def test_reserved_concurrency_is_the_context_value_and_can_be_switched_off(
    default_synth: Synthesized, oidc_synth: Synthesized
) -> None:
    assert cdk_json_context()["reserved_concurrency"] == 50
    assert function(default_synth)["ReservedConcurrentExecutions"] == 50
    assert "ReservedConcurrentExecutions" not in function(oidc_synth)


@pytest.mark.parametrize("off", ["", "off", "none", " Off "])
def test_reserved_concurrency_off(off: str) -> None:
    assert ApiConfig.from_context({**cdk_json_context(), "reserved_concurrency": off}).reserved_concurrency is None


def test_zero_reserved_concurrency_is_refused_as_the_outage_it_would_be() -> None:
    with pytest.raises(ConfigError, match=r"reserved_concurrency: '0' is less than 1 \(accepted: .*or off for none"):
        ApiConfig.from_context({**cdk_json_context(), "reserved_concurrency": "0"})


def test_the_token_route_has_its_own_throttle_below_the_stage_default(
    default_synth: Synthesized, oidc_synth: Synthesized
) -> None:
    for synth, (rate, burst) in ((default_synth, (5, 10)), (oidc_synth, (2, 4))):
        stage = synth.only("AWS::ApiGatewayV2::Stage")
        assert stage["Properties"]["RouteSettings"] == {
            "POST /v1/auth/token": {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}
        }
        assert stage["Properties"]["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}
        # The route settings name a route, which must exist first.
        (token_route,) = [
            logical_id
            for logical_id, route in synth.resources("AWS::ApiGatewayV2::Route").items()
            if route["Properties"]["RouteKey"] == "POST /v1/auth/token"
        ]
        assert token_route in stage["DependsOn"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"token_throttling_rate_limit": "60"}, "token_throttling_rate_limit"),
        ({"token_throttling_burst_limit": "101"}, "token_throttling_burst_limit"),
    ],
)
def test_a_token_throttle_above_the_stage_default_is_refused(override: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=f"{key}: must not exceed"):
        ApiConfig.from_context({**cdk_json_context(), **override})


def test_a_token_route_that_could_hold_every_reserved_execution_is_warned_about(tmp_path: Path) -> None:
    # 10 sign-ins a second, each waiting up to 8 s for a stalled provider: 80 executions, 50 reserved.
    synth = synthesize(tmp_path, token_throttling_rate_limit="10", token_throttling_burst_limit="20")

    synth.template.has_resource("AWS::Lambda::Function", Match.any_value())
    warnings = [
        entry.data
        for entry in synth.stack.api.function.node.metadata
        if entry.type == "aws:cdk:warning" and "token-route-can-take-all-concurrency" in str(entry.data)
    ]
    assert len(warnings) == 1
    assert "holds about 80 executions" in str(warnings[0])
