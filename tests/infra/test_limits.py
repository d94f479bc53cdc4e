"""Synth refuses what AWS would refuse at deploy, and a service grown to the routes quota still synthesizes.

The grown service is the app with generated resources added through its factory; the refusals
are each shown on a small stack crafted to cross one limit, checked by the same validation the
API stack carries (`infra.limits.add_limit_checks`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from aws_cdk import App, CfnResource, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_authorizers import HttpJwtAuthorizer
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration

from app import synth
from infra import limits
from infra.limits import LimitExceeded
from tests.infra.conftest import STACK, Synthesized, cdk_json_context, synthesize
from tests.infra.grown_service import grown_service

ROUTES_QUOTA: int = cdk_json_context()["http_api_max_routes"]
# A custom domain whose clients still use the execute-api endpoint: the key keeps it.
GROWN_CONTEXT = {
    "domain_name": "api.example.com",
    "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
    "keep_execute_api_endpoint": "true",
}


@pytest.fixture(scope="module")
def grown_synth(tmp_path_factory: pytest.TempPathFactory, default_synth: Synthesized) -> Synthesized:
    """The service with as many routes as the quota allows, added as a team adds resources."""
    own_routes = len(default_synth.resources("AWS::ApiGatewayV2::Route"))
    with grown_service(ROUTES_QUOTA - own_routes):
        return synthesize(tmp_path_factory.mktemp("grown"), **GROWN_CONTEXT)


def test_a_service_at_the_routes_quota_synthesizes_within_every_limit(grown_synth: Synthesized) -> None:
    routes = grown_synth.resources("AWS::ApiGatewayV2::Route").values()
    stack = grown_synth.stack
    figures = {
        "routes": len(routes),
        "most scopes on a route": max(len(r["Properties"].get("AuthorizationScopes", [])) for r in routes),
        "permissions": len(grown_synth.resources("AWS::Lambda::Permission")),
        "resource policy bytes": max(limits.resource_policy_bytes(stack).values()),
        "environment bytes": sum(len(k) + len(v) for k, v in grown_synth.function_environment.items()),
        "bundle bytes": limits.directory_bytes(grown_synth.asset_dir),
        "role inline policy characters": max(limits.role_inline_policy_characters(stack).values()),
        "template bytes": (grown_synth.assembly_dir / f"{STACK}.template.json").stat().st_size,
        "resources": len(grown_synth.template_json["Resources"]),
    }
    print(json.dumps(figures))

    assert figures["routes"] == ROUTES_QUOTA
    assert [r for r in routes if r["Properties"].get("AuthorizationScopes")], "some routes have scopes"
    assert 0 < figures["most scopes on a route"] <= limits.SCOPES_PER_ROUTE.maximum
    assert figures["permissions"] == 1
    assert figures["resource policy bytes"] <= limits.RESOURCE_POLICY.maximum
    assert figures["environment bytes"] <= limits.ENVIRONMENT.maximum
    assert 0 < figures["bundle bytes"] <= limits.UNZIPPED_BUNDLE.maximum
    function_resource = grown_synth.stack.api.function.node.default_child
    assert isinstance(function_resource, lambda_.CfnFunction)
    assert limits.bundle_directory(function_resource) == grown_synth.asset_dir, "the check measures the bundle"
    assert figures["role inline policy characters"] <= limits.ROLE_INLINE_POLICIES.maximum
    assert figures["template bytes"] <= limits.TEMPLATE.maximum
    # CloudFormation's 500 resources per stack (the CDK refuses more at synth).
    assert figures["resources"] <= 500
    for resource_type, name in (("AWS::Lambda::Function", "FunctionName"), ("AWS::Logs::LogGroup", "LogGroupName")):
        for resource in grown_synth.resources(resource_type).values():
            assert name not in resource["Properties"], "names are CloudFormation's, within their limits"


def test_the_context_key_keeps_the_execute_api_endpoint_beside_a_custom_domain(grown_synth: Synthesized) -> None:
    grown_synth.template.resource_count_is("AWS::ApiGatewayV2::DomainName", 1)
    assert not grown_synth.only("AWS::ApiGatewayV2::Api")["Properties"].get("DisableExecuteApiEndpoint")


# Crafted stacks, one limit each.

ONE_LINE = re.compile(r"(?m)^.*over AWS's limit of [\d,]+ \(https://docs\.aws\.amazon\.com/\S+\); fix: .+$")


def refusal_of(build: Callable[[Stack], object], tmp_path: Path, *, max_routes: int = 300) -> str:
    """The synth's refusal of a stack that `build` fills; it must name the limit, the figure and the fix."""
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Crafted")
    build(stack)
    limits.add_limit_checks(stack, max_routes=max_routes)
    with pytest.raises((RuntimeError, LimitExceeded)) as refused:
        synth(app)
    lines = ONE_LINE.findall(str(refused.value))
    assert len(lines) == 1, str(refused.value)
    return str(lines[0])


def function(stack: Stack, **options: object) -> lambda_.Function:
    return lambda_.Function(
        stack,
        "Function",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return {}"),
        **options,  # type: ignore[arg-type]
    )


def api_with_routes(stack: Stack, count: int, *, scopes: list[str] | None = None, per_route: bool = False) -> None:
    integration = HttpLambdaIntegration("Integration", function(stack), scope_permission_to_route=per_route)
    api = apigwv2.HttpApi(stack, "Api")
    authorizer = HttpJwtAuthorizer("Jwt", jwt_issuer="https://issuer.example.com", jwt_audience=["a"])
    for index in range(count):
        api.add_routes(
            path=f"/r{index}",
            methods=[apigwv2.HttpMethod.GET],
            integration=integration,
            authorizer=authorizer if scopes else None,
            authorization_scopes=scopes,
        )


def test_more_routes_than_the_quota_are_refused_unless_the_context_key_raises_it(tmp_path: Path) -> None:
    line = refusal_of(lambda stack: api_with_routes(stack, 301), tmp_path / "refused")
    assert "routes per HTTP API is 301 routes, over AWS's limit of 300" in line
    assert limits.MAX_ROUTES_CONTEXT_KEY in line

    app = App(outdir=str(tmp_path / "raised"))
    stack = Stack(app, "Crafted")
    api_with_routes(stack, 301)
    limits.add_limit_checks(stack, max_routes=301)
    synth(app)


def test_more_than_ten_scopes_on_a_route_are_refused(tmp_path: Path) -> None:
    scopes = [f"scope:{index}" for index in range(11)]
    line = refusal_of(lambda stack: api_with_routes(stack, 1, scopes=scopes), tmp_path)
    assert "route GET /r0: authorization scopes on one route is 11 scopes, over AWS's limit of 10" in line


def test_an_environment_over_4_kb_is_refused(tmp_path: Path) -> None:
    line = refusal_of(lambda stack: function(stack, environment={"LONG": "x" * 4093}), tmp_path)
    assert "Crafted/Function" in line
    assert "the function's environment (names and values) is 4,097 bytes, over AWS's limit of 4,096" in line


def test_a_resource_policy_over_20_kb_is_refused_and_the_fix_named(tmp_path: Path) -> None:
    # The construct's old shape: one permission per route.
    line = refusal_of(lambda stack: api_with_routes(stack, 60, per_route=True), tmp_path)
    assert "the function's resource-based policy (estimated) is" in line
    assert "over AWS's limit of 20,480" in line
    assert "scope_permission_to_route=False" in line


def test_a_roles_inline_policies_over_10240_characters_are_refused(tmp_path: Path) -> None:
    def build(stack: Stack) -> None:
        # The CDK moves a role's default policy past the limit into managed policies itself; a policy
        # given whole is left as it is.
        statements = [
            iam.PolicyStatement(actions=[f"s3:GetObject{index}"], resources=[f"arn:aws:s3:::bucket-{index}/*"])
            for index in range(200)
        ]
        iam.Role(
            stack,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            inline_policies={"Reads": iam.PolicyDocument(statements=statements)},
        )

    line = refusal_of(build, tmp_path)
    assert "the role's inline policies (characters without white space) is" in line
    assert "over AWS's limit of 10,240" in line


def test_a_template_over_1_mb_is_refused(tmp_path: Path) -> None:
    def build(stack: Stack) -> None:
        for index in range(11):
            CfnResource(stack, f"Padding{index}", type="AWS::CloudFormation::WaitConditionHandle").add_metadata(
                "padding", "x" * 100_000
            )

    line = refusal_of(build, tmp_path)
    assert "stack Crafted (Crafted.template.json): the synthesized template is" in line
    assert "over AWS's limit of 1,048,576" in line


def test_a_function_name_over_64_characters_is_refused(tmp_path: Path) -> None:
    def build(stack: Stack) -> None:
        # The Function construct refuses such a name itself; one set on the resource is caught here.
        resource = function(stack).node.default_child
        assert isinstance(resource, lambda_.CfnFunction)
        resource.function_name = "f" * 65

    line = refusal_of(build, tmp_path)
    assert "the function's name is 65 characters, over AWS's limit of 64" in line


def test_a_log_group_name_over_512_characters_is_refused(tmp_path: Path) -> None:
    def build(stack: Stack) -> None:
        logs.CfnLogGroup(stack, "Logs", log_group_name="/" + "l" * 512)

    line = refusal_of(build, tmp_path)
    assert "the log group's name is 513 characters, over AWS's limit of 512" in line


def test_a_bundle_over_250_mb_unzipped_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "index.py").write_text("def handler(event, context):\n    return {}\n")
    with (bundle / "large.bin").open("wb") as large:
        large.truncate(250 * 1024 * 1024 + 1)  # sparse: no disk written

    def build(stack: Stack) -> None:
        lambda_.Function(
            stack,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(bundle)),
        )

    line = refusal_of(build, tmp_path / "cdk.out")
    assert "the function's unzipped bundle is 262,144,0" in line
    assert "over AWS's limit of 262,144,000" in line
