"""What the stack deploys, resource by resource, for cdk.json's defaults and for every override."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Annotations, Match

from infra.bytecode import find_bytecode_compiler
from service.core.settings import IDENTITY_SOURCE
from tests.infra.conftest import CUSTOM_CONTEXT, HOST_PYTHON, Synthesized, cdk_json_context
from tests.support import STACK_NAME


def ref_to(synth: Synthesized, resource_type: str) -> dict[str, str]:
    (logical_id,) = synth.resources(resource_type)
    return {"Ref": logical_id}


def output_url(synth: Synthesized, name: str) -> str:
    """An output's Fn::Join, with references written as <Ref>, so its shape can be compared."""
    parts = synth.template_json["Outputs"][name]["Value"]["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else f"<{next(iter(part.values()))}>" for part in parts)


# The JWT authorizer.


def test_the_authorizer_checks_the_configured_issuer_and_audiences(
    default_synth: Synthesized, custom_synth: Synthesized
) -> None:
    for synth, issuer, audiences in [
        (default_synth, "https://securetoken.google.com/demo-project", ["demo-project"]),
        (custom_synth, CUSTOM_CONTEXT["jwt_issuer"], ["client-one", "client-two"]),
    ]:
        synth.template.resource_count_is("AWS::ApiGatewayV2::Authorizer", 1)
        synth.template.has_resource_properties(
            "AWS::ApiGatewayV2::Authorizer",
            {
                "AuthorizerType": "JWT",
                # The app reads the exact claims from the token the authorizer verified, in that header.
                "IdentitySource": [IDENTITY_SOURCE],
                "JwtConfiguration": {"Issuer": issuer, "Audience": audiences},
            },
        )


def test_protected_routes_use_that_authorizer(default_synth: Synthesized) -> None:
    authorizer = ref_to(default_synth, "AWS::ApiGatewayV2::Authorizer")
    routes = default_synth.resources("AWS::ApiGatewayV2::Route").values()

    jwt_routes = [r["Properties"] for r in routes if r["Properties"]["AuthorizationType"] == "JWT"]

    assert jwt_routes
    assert all(route["AuthorizerId"] == authorizer for route in jwt_routes)


# The stage, and the values the function is given from it.


def test_the_stage_is_named_and_the_function_is_told_that_name(
    default_synth: Synthesized, custom_synth: Synthesized
) -> None:
    for synth, stage_name in [(default_synth, "mvp"), (custom_synth, "prod")]:
        stage = synth.only("AWS::ApiGatewayV2::Stage")["Properties"]
        assert stage["StageName"] == stage_name
        assert stage["AutoDeploy"] is True
        assert synth.function_environment["AWS_API_GW_STAGE_NAME"] == stage["StageName"]


def test_the_function_is_told_the_authorizers_identity_source(default_synth: Synthesized) -> None:
    """The header the authorizer reads is the one the function reads the verified token from."""
    authorizer = default_synth.only("AWS::ApiGatewayV2::Authorizer")["Properties"]
    assert authorizer["IdentitySource"] == [default_synth.function_environment["JWT_IDENTITY_SOURCE"]]


def test_the_function_is_told_the_groups_claim(default_synth: Synthesized, custom_synth: Synthesized) -> None:
    assert default_synth.function_environment["JWT_AUTHORIZATION_GROUPS_ATTR_NAME"] == "groups"
    assert custom_synth.function_environment["JWT_AUTHORIZATION_GROUPS_ATTR_NAME"] == "cognito:groups"


def test_the_function_runs_the_service_in_lambda_mode_with_the_identity_settings(
    default_synth: Synthesized, custom_synth: Synthesized
) -> None:
    environment = dict(default_synth.function_environment)
    # The docs pages' pinned files and their digests: test_docs_assets_integrity.py.
    assert environment.pop("DOCS_ASSETS_INTEGRITY")
    # A team's own settings (cdk.json's function_environment: docs/recipes.md, "Add a setting the
    # function reads") reach the function as given; the construct's own are the rest.
    for name, value in cdk_json_context()["function_environment"].items():
        assert environment.pop(name) == value
    assert environment == {
        "RUNTIME": "LAMBDA",
        "AWS_API_GW_STAGE_NAME": "mvp",
        "AWS_API_GW_MAPPING_KEY": "",
        "JWT_IDENTITY_SOURCE": "$request.header.Authorization",
        "JWT_AUTHORIZATION_GROUPS_ATTR_NAME": "groups",
        "IDENTITY_PROVIDER": "firebase",
        "JWT_ISSUER": "https://securetoken.google.com/demo-project",
        "JWT_AUDIENCE": "demo-project",
        "DOCS_ENABLED": "true",
        "PROVIDER_TIMEOUT_SECONDS": "8",
        "FIREBASE_APP_API_KEY": "demo-api-key",
    }
    cognito = custom_synth.function_environment
    assert cognito["IDENTITY_PROVIDER"] == "cognito"
    assert cognito["COGNITO_USER_POOL_CLIENT_ID"] == "client-one"
    assert cognito["JWT_AUDIENCE"] == "client-one,client-two"
    assert cognito["DOCS_ENABLED"] == "false"
    assert cognito["PROVIDER_TIMEOUT_SECONDS"] == "5"
    # The client secret stays in Secrets Manager: the function is told only where, and reads it at run time.
    assert cognito["COGNITO_USER_POOL_CLIENT_SECRET_ARN"] == CUSTOM_CONTEXT["cognito_client_secret_arn"]
    assert "COGNITO_USER_POOL_CLIENT_SECRET" not in cognito
    # Lambda sets AWS_REGION itself (a template may not), and no other provider's settings leak in.
    assert "AWS_REGION" not in cognito
    assert "FIREBASE_APP_API_KEY" not in cognito


def test_access_logs_are_json_in_a_log_group_with_retention(default_synth: Synthesized) -> None:
    settings = default_synth.only("AWS::ApiGatewayV2::Stage")["Properties"]["AccessLogSettings"]
    (log_group_id,) = (
        logical_id
        for logical_id in default_synth.resources("AWS::Logs::LogGroup")
        if settings["DestinationArn"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    )

    assert default_synth.template_json["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 30
    fields = json.loads(settings["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert {"routeKey", "status", "ip", "integrationError", "authorizerError"} <= fields.keys()


def test_default_route_throttling_comes_from_config(default_synth: Synthesized, custom_synth: Synthesized) -> None:
    for synth, rate, burst in [(default_synth, 50, 100), (custom_synth, 10, 20)]:
        synth.template.has_resource_properties(
            "AWS::ApiGatewayV2::Stage",
            {"DefaultRouteSettings": {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}},
        )


# The function, its version and alias.


def test_the_function_defaults(default_synth: Synthesized) -> None:
    default_synth.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Handler": "service.runtime.aws_lambda.handler",
            "MemorySize": 512,
            "Timeout": 15,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": Match.object_like({"LogFormat": "JSON", "LogGroup": Match.any_value()}),
            "SnapStart": {"ApplyOn": "PublishedVersions"},
        },
    )


def test_overrides_reach_the_function(custom_synth: Synthesized) -> None:
    custom_synth.template.has_resource_properties(
        "AWS::Lambda::Function", {"Architectures": ["x86_64"], "MemorySize": 1024, "Timeout": 20}
    )
    function_log_group = custom_synth.only("AWS::Lambda::Function")["Properties"]["LoggingConfig"]["LogGroup"]
    log_group = custom_synth.template_json["Resources"][function_log_group["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == 90


def test_snapstart_only_where_the_runtime_supports_it(host_synth: Synthesized) -> None:
    function = host_synth.only("AWS::Lambda::Function")["Properties"]
    # Lambda offers SnapStart for Python 3.12 and later.
    supports = tuple(int(part) for part in HOST_PYTHON.split(".")) >= (3, 12)

    assert ("SnapStart" in function) is supports


def test_the_api_invokes_the_live_alias_of_a_published_version(default_synth: Synthesized) -> None:
    alias = default_synth.only("AWS::Lambda::Alias")["Properties"]
    (version_id,) = default_synth.resources("AWS::Lambda::Version")

    assert alias["Name"] == "live"
    assert alias["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    integration = default_synth.only("AWS::ApiGatewayV2::Integration")["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == ref_to(default_synth, "AWS::Lambda::Alias")
    permissions = default_synth.resources("AWS::Lambda::Permission").values()
    assert {json.dumps(p["Properties"]["FunctionName"]) for p in permissions} == {
        json.dumps(ref_to(default_synth, "AWS::Lambda::Alias"))
    }


def test_one_invoke_permission_covers_every_route_of_this_api(default_synth: Synthesized) -> None:
    """Lambda refuses a resource-based policy over 20 KB at deploy (PolicyLengthExceededException,
    aws/aws-cdk issue 19535). One permission per route, about 435 bytes each, stopped deploys at
    about 47 routes; one for the whole API holds for any number, and grants nothing more: every
    route of this API invokes the same alias."""
    (permission,) = default_synth.resources("AWS::Lambda::Permission").values()
    properties = permission["Properties"]
    api = ref_to(default_synth, "AWS::ApiGatewayV2::Api")["Ref"]
    source = "".join(
        part if isinstance(part, str) else f"<{next(iter(part.values()))}>"
        for part in properties["SourceArn"]["Fn::Join"][1]
    )

    assert len(default_synth.resources("AWS::ApiGatewayV2::Route")) > 1
    assert properties["Action"] == "lambda:InvokeFunction"
    assert properties["Principal"] == "apigateway.amazonaws.com"
    assert properties["FunctionName"] == ref_to(default_synth, "AWS::Lambda::Alias")
    # This API only: any stage, any method, any path of it.
    assert source == f"arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<{api}>/*/*/*"


def test_behind_a_custom_domain_the_execute_api_endpoint_is_disabled(
    default_synth: Synthesized, custom_synth: Synthesized
) -> None:
    """Otherwise a client reaches the API around the domain, its mapping key and whatever fronts it."""
    api = custom_synth.only("AWS::ApiGatewayV2::Api")["Properties"]
    assert api["DisableExecuteApiEndpoint"] is True
    # The custom domain is then the only way in: the URL the stack prints, and the pipeline's health check calls.
    assert custom_synth.template_json["Outputs"]["ApiUrl"]["Value"] == "https://api.example.com/orders"
    # Without a custom domain there is no other way in: the endpoint stays.
    assert not default_synth.only("AWS::ApiGatewayV2::Api")["Properties"].get("DisableExecuteApiEndpoint")


def test_no_function_url_and_no_physical_names(default_synth: Synthesized) -> None:
    default_synth.template.resource_count_is("AWS::Lambda::Url", 0)
    names = {
        "AWS::Lambda::Function": "FunctionName",
        "AWS::IAM::Role": "RoleName",
        "AWS::Logs::LogGroup": "LogGroupName",
    }
    for resource_type, name_property in names.items():
        for resource in default_synth.resources(resource_type).values():
            assert name_property not in resource["Properties"]


def test_the_role_allows_its_log_group_and_tracing_only(default_synth: Synthesized) -> None:
    role = default_synth.only("AWS::IAM::Role")["Properties"]
    statements = default_synth.only("AWS::IAM::Policy")["Properties"]["PolicyDocument"]["Statement"]
    function = default_synth.only("AWS::Lambda::Function")["Properties"]
    log_group_id = function["LoggingConfig"]["LogGroup"]["Ref"]

    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert {json.dumps(s["Resource"]): sorted(s["Action"]) for s in statements} == {
        json.dumps({"Fn::GetAtt": [log_group_id, "Arn"]}): ["logs:CreateLogStream", "logs:PutLogEvents"],
        json.dumps("*"): ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
    }


# CORS and the custom domain.


def test_cors_preflight_is_answered_for_the_configured_origins(
    default_synth: Synthesized, custom_synth: Synthesized
) -> None:
    assert "CorsConfiguration" not in default_synth.only("AWS::ApiGatewayV2::Api")["Properties"]
    cors = custom_synth.only("AWS::ApiGatewayV2::Api")["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://app.example.com", "https://admin.example.com"]
    assert set(cors["AllowMethods"]) == {"GET", "POST", "OPTIONS"}
    assert "authorization" in cors["AllowHeaders"]


def test_a_custom_domain_maps_the_stage_under_the_mapping_key(
    default_synth: Synthesized, custom_synth: Synthesized
) -> None:
    default_synth.template.resource_count_is("AWS::ApiGatewayV2::DomainName", 0)
    default_synth.template.resource_count_is("AWS::ApiGatewayV2::ApiMapping", 0)

    custom_synth.template.has_resource_properties(
        "AWS::ApiGatewayV2::DomainName",
        {
            "DomainName": "api.example.com",
            "DomainNameConfigurations": [Match.object_like({"CertificateArn": CUSTOM_CONTEXT["certificate_arn"]})],
        },
    )
    mapping_resource = custom_synth.only("AWS::ApiGatewayV2::ApiMapping")
    mapping = mapping_resource["Properties"]
    (stage_id,) = custom_synth.resources("AWS::ApiGatewayV2::Stage")
    assert mapping["ApiMappingKey"] == "orders"
    assert mapping["Stage"] == "prod"
    assert stage_id in mapping_resource["DependsOn"]
    assert custom_synth.function_environment["AWS_API_GW_MAPPING_KEY"] == mapping["ApiMappingKey"]


# Outputs and warnings.


def test_outputs_name_the_urls_the_function_its_logs_and_the_alias(
    default_synth: Synthesized, custom_synth: Synthesized
) -> None:
    outputs: dict[str, Any] = default_synth.template_json["Outputs"]
    api = ref_to(default_synth, "AWS::ApiGatewayV2::Api")["Ref"]
    stage = default_synth.stack.api.stage.stage_name

    assert output_url(default_synth, "ApiUrl") == f"https://<{api}>.execute-api.<AWS::Region>.<AWS::URLSuffix>/{stage}"
    assert output_url(default_synth, "DocsUrl").endswith(f"/{stage}/v1/docs")
    assert outputs["FunctionName"]["Value"] == ref_to(default_synth, "AWS::Lambda::Function")
    # The group the function logs to (its Ref is the group's name, what `aws logs tail` takes).
    function = default_synth.only("AWS::Lambda::Function")
    assert outputs["FunctionLogGroup"]["Value"] == function["Properties"]["LoggingConfig"]["LogGroup"]
    assert outputs["FunctionLogGroup"]["Value"]["Ref"] in default_synth.resources("AWS::Logs::LogGroup")
    # And the gateway's access log: the other group, the one the stage writes to.
    stage_properties = default_synth.only("AWS::ApiGatewayV2::Stage")["Properties"]
    access_log_group = outputs["AccessLogGroup"]["Value"]["Ref"]
    assert stage_properties["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": [access_log_group, "Arn"]}
    assert outputs["AliasName"]["Value"] == "live"
    custom_outputs = custom_synth.template_json["Outputs"]
    assert "DocsUrl" not in custom_outputs
    assert custom_outputs["CustomDomainUrl"]["Value"] == "https://api.example.com/orders/"


def test_a_bundle_without_bytecode_says_so_and_names_the_fix(default_synth: Synthesized) -> None:
    warnings = Annotations.from_stack(default_synth.stack).find_warning(
        f"/{STACK_NAME}/Api/Function", Match.string_like_regexp("WITHOUT BYTECODE")
    )

    # The default runtime is python3.14: warned about where this machine has no Python 3.14.
    found = find_bytecode_compiler("3.14").compiler
    assert bool(warnings) is (found is None)
    if warnings:
        message = str(warnings[0].entry.data)
        assert "uv python install 3.14" in message
        assert "-c bytecode_python=" in message


def test_cdk_json_placeholders_are_flagged_and_real_settings_are_not(
    default_synth: Synthesized, custom_synth: Synthesized
) -> None:
    def placeholder_warnings(synth: Synthesized) -> list[Any]:
        return Annotations.from_stack(synth.stack).find_warning("*", Match.string_like_regexp("placeholder"))

    assert placeholder_warnings(default_synth)
    assert not placeholder_warnings(custom_synth)
