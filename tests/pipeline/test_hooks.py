"""Each environment's canary runs both CodeDeploy hooks: small functions of their own, each role exactly what it needs.

Staging has a smoke user (a secret in the pipeline's account for the CodeBuild step, a copy in
staging's own for the hooks), production has none.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Annotations, Match

from app import build
from infra.constructs.lambda_api import HANDLER
from infra.hook_assets import POST_TRAFFIC, PRE_TRAFFIC, HookAsset, build_hook_asset, hook_asset_hash
from tests.infra.conftest import HOST_CONTEXT, cdk_json_context
from tests.pipeline.conftest import (
    PIPELINE_ACCOUNT,
    PIPELINE_CONTEXT,
    STAGING_HOOK_USER_SECRET_ARN,
    PipelineSynth,
    StageSynth,
)

ENVIRONMENTS = ("staging", "production")
HOOK_HANDLERS = {"pre": PRE_TRAFFIC.handler, "post": POST_TRAFFIC.handler}
# Lambda's Python runtimes include the AWS SDK for Python (hooks/lifecycle.py names the source).
RUNTIME_PROVIDED = {"boto3", "botocore"}
BUNDLE_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "lambda-bundle"


def hook(stage: StageSynth, which: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, resource)
        for logical_id, resource in stage.resources("AWS::Lambda::Function").items()
        if resource["Properties"]["Handler"] == HOOK_HANDLERS[which]
    ]
    return found


def role_statements(stage: StageSynth, role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of every policy on the role: inline, attached, managed."""
    role = stage.template_json["Resources"][role_logical_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert "Policies" not in role
    statements: list[dict[str, Any]] = []
    for policy in stage.resources("AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def deployment_group_arn(stage: StageSynth) -> dict[str, Any]:
    (application,) = stage.resources("AWS::CodeDeploy::Application")
    (group,) = stage.resources("AWS::CodeDeploy::DeploymentGroup")
    stack = stage.stage.api_stack
    prefix = f"arn:aws:codedeploy:{stack.region}:{stack.account}:deploymentgroup:"
    return {"Fn::Join": ["", [prefix, {"Ref": application}, "/", {"Ref": group}]]}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_alias_update_names_both_hooks_and_waits_for_them(pipeline_synth: PipelineSynth, environment: str) -> None:
    stage = pipeline_synth.stages[environment]
    (alias_id, alias) = next(iter(stage.resources("AWS::Lambda::Alias").items()))
    pre_id, _ = hook(stage, "pre")
    post_id, _ = hook(stage, "post")
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]

    assert update["BeforeAllowTrafficHook"] == {"Ref": pre_id}
    assert update["AfterAllowTrafficHook"] == {"Ref": post_id}
    # Updated before CodeDeploy invokes them: their code, target and permissions are this synth's.
    assert {pre_id, post_id} <= set(alias["DependsOn"]), alias_id


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_pre_hook_targets_the_version_the_alias_moves_to(pipeline_synth: PipelineSynth, environment: str) -> None:
    stage = pipeline_synth.stages[environment]
    alias = stage.only("AWS::Lambda::Alias")["Properties"]
    _, pre = hook(stage, "pre")
    variables = pre["Properties"]["Environment"]["Variables"]

    assert {"Ref": variables["TARGET_FUNCTION_ARN"]["Ref"]} == {"Ref": alias["FunctionVersion"]["Fn::GetAtt"][0]}
    api = stage.stage.api_stack
    assert variables["STAGE_NAME"] == api.api.stage.stage_name
    assert variables["IDENTITY_HEADER"] == api.api.identity_header
    (service,) = [f for f in stage.resources("AWS::Lambda::Function").values() if f["Properties"]["Handler"] == HANDLER]
    assert float(variables["TARGET_TIMEOUT_SECONDS"]) == service["Properties"]["Timeout"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_hook_role_may_do_exactly_what_its_hook_needs(pipeline_synth: PipelineSynth, environment: str) -> None:
    stage = pipeline_synth.stages[environment]
    secret = [{"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": STAGING_HOOK_USER_SECRET_ARN}]
    secret_statements = secret if environment == "staging" else []
    report = {
        "Action": "codedeploy:PutLifecycleEventHookExecutionStatus",
        "Effect": "Allow",
        "Resource": deployment_group_arn(stage),
    }
    alias = stage.only("AWS::Lambda::Alias")["Properties"]
    new_version = {"Ref": alias["FunctionVersion"]["Fn::GetAtt"][0]}

    for which in ("pre", "post"):
        _, function = hook(stage, which)
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        logs = {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
        }
        invoke = [{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": new_version}]
        expected = [logs, *(invoke if which == "pre" else []), *secret_statements, report]
        role = stage.template_json["Resources"][role_id]["Properties"]

        assert sorted(map(json.dumps, role_statements(stage, role_id))) == sorted(map(json.dumps, expected)), which
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
        ]


def test_without_a_smoke_user_no_hook_may_read_any_secret(pipeline_synth: PipelineSynth) -> None:
    stage = pipeline_synth.stages["production"]
    for which in ("pre", "post"):
        _, function = hook(stage, which)
        statements = role_statements(stage, function["Properties"]["Role"]["Fn::GetAtt"][0])
        assert not [s for s in statements if "secretsmanager" in json.dumps(s["Action"])]
        assert "SMOKE_USER_SECRET_ARN" not in function["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_hook_ships_its_own_asset_never_the_services(pipeline_synth: PipelineSynth, environment: str) -> None:
    stage = pipeline_synth.stages[environment]
    code = {
        resource["Properties"]["Handler"]: resource["Properties"]["Code"]["S3Key"]
        for resource in stage.resources("AWS::Lambda::Function").values()
    }

    assert set(code) == {HANDLER, *HOOK_HANDLERS.values()}
    assert len(set(code.values())) == 3  # three assets: the service's, the pre hook's, the post hook's


def top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("asset", [PRE_TRAFFIC, POST_TRAFFIC], ids=lambda asset: asset.name)
def test_a_hooks_asset_holds_everything_its_code_imports_and_no_service(
    pipeline_synth: PipelineSynth, asset: HookAsset
) -> None:
    # The tree the synth above built (kept in the bundle cache), for the environments' runtime and architecture.
    function = pipeline_synth.stages["staging"].stage.api_stack.api.function
    python_version = function.runtime.name.removeprefix("python")
    directory, _ = build_hook_asset(
        asset, python_version=python_version, architecture=function.architecture.name, cache_dir=BUNDLE_CACHE
    )
    shipped = {path.name.removesuffix(".py") for path in directory.iterdir()}
    own = [
        path
        for path in directory.rglob("*.py")
        if path.relative_to(directory).parts[0] in ("hooks", "smoke", "sandbox")
    ]
    imported = set().union(*(top_level_imports(path) for path in own)) - {"__future__"}

    assert "service" not in shipped
    assert imported <= shipped | RUNTIME_PROVIDED | set(sys.stdlib_module_names), imported - shipped


def test_the_post_hooks_asset_changes_with_a_project_its_requirements_name_by_path(tmp_path: Path) -> None:
    # The generated client is installed from ./clients/python: regenerating it must build a new asset.
    project = tmp_path / "clients" / "python" / "api_client"
    project.mkdir(parents=True)
    (project / "__init__.py").write_text("VERSION = 1\n")
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "requirements.txt").write_text("./clients/python\n")
    (tmp_path / "constraints.txt").write_text("")
    asset = HookAsset(name="post", handler="x.handler", requirements=("smoke/requirements.txt",))
    before = hook_asset_hash(asset, python_version="3.12", architecture="arm64", root=tmp_path)
    (project / "__init__.py").write_text("VERSION = 2\n")
    assert hook_asset_hash(asset, python_version="3.12", architecture="arm64", root=tmp_path) != before


# The staging entry of the pipeline's context (its hooks' secret a copy in its own account and
# region), and two ways of getting it wrong: no copy (the smoke step's, in the pipeline's
# account), and a copy in another region.
HOOK_SECRET_CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "own-copy": ({}, None),
    "no-copy": ({"hook_user_secret_arn": ""}, f"account {PIPELINE_ACCOUNT}"),
    "copy-elsewhere": ({"region": "eu-central-1"}, "region eu-west-1"),
}


def test_synth_warns_where_the_hooks_secret_is_in_another_account_or_region(tmp_path: Path) -> None:
    staging = PIPELINE_CONTEXT["environments"]["staging"]
    environments = {name: {**staging, **change} for name, (change, _) in HOOK_SECRET_CASES.items()}
    # Only the warnings matter here: no stack's assets are bundled, as `cdk deploy <stack>` leaves the
    # others' (aws-cdk-lib cx-api, BUNDLING_STACKS), and the host's Python as the runtime means no
    # other Python is looked for to compile bytecode.
    context = {**PIPELINE_CONTEXT, **HOST_CONTEXT, "environments": environments, "aws:cdk:bundling-stacks": []}
    app = App(context={**cdk_json_context(), **context}, outdir=str(tmp_path))
    stacks = build(app)
    assert stacks.pipeline is not None

    for stage in stacks.pipeline.stages:
        _, elsewhere = HOOK_SECRET_CASES[stage.stage_name]
        warnings = Annotations.from_stack(stage.api_stack).find_warning(
            "*", Match.string_like_regexp("hook_user_secret_arn")
        )
        messages = [str(warning.entry.data) for warning in warnings]
        if elsewhere is None:
            assert messages == [], stage.stage_name
        else:
            (message,) = messages
            assert f"secret is in {elsewhere}, not this environment's" in message
            assert "fastapi-lambda:hook-secret-elsewhere" in message
