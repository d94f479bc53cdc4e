"""The pipeline: its source, its build, the order of its stages, the approval and the smoke tests."""

from __future__ import annotations

import json
from typing import Any

from app import NO_PIPELINE
from infra.config import PipelineConfig
from infra.stacks.pipeline_stack import SMOKE_INSTALL, SMOKE_USER_VARIABLE, smoke_command
from tests.infra.conftest import ROOT, cdk_json_context
from tests.pipeline.conftest import (
    CONNECTION_ARN,
    PIPELINE_ACCOUNT,
    PIPELINE_CONTEXT,
    PIPELINE_REGION,
    STAGING_SMOKE_USER_SECRET_ARN,
    PipelineSynth,
)
from tests.support import PIPELINE_STACK_NAME, STACK_NAME


def stage_names(synth: PipelineSynth) -> list[str]:
    return [stage["Name"] for stage in synth.codepipeline["Stages"]]


def actions_in_order(synth: PipelineSynth, stage_name: str) -> list[tuple[str, str]]:
    """(action name, provider) by run order."""
    actions = sorted(synth.pipeline_stage(stage_name)["Actions"], key=lambda action: action["RunOrder"])
    return [(action["Name"], action["ActionTypeId"]["Provider"]) for action in actions]


# The source.


def test_the_source_is_the_branch_of_the_repository_through_the_connection(pipeline_synth: PipelineSynth) -> None:
    (source,) = pipeline_synth.pipeline_stage("Source")["Actions"]

    assert source["ActionTypeId"] == {
        "Category": "Source",
        "Owner": "AWS",
        "Provider": "CodeStarSourceConnection",
        "Version": "1",
    }
    assert source["Configuration"] == {
        "ConnectionArn": CONNECTION_ARN,
        "FullRepositoryId": "acme/orders-api",
        "BranchName": "release",
    }


def test_the_pipeline_lives_where_the_connection_does(pipeline_synth: PipelineSynth) -> None:
    pipeline = pipeline_synth.stacks.pipeline
    assert pipeline is not None

    assert (pipeline.account, pipeline.region) == (PIPELINE_ACCOUNT, PIPELINE_REGION)


# The build.


def synth_buildspec(synth: PipelineSynth) -> dict[str, Any]:
    return synth.codebuild_buildspec(synth.action_project("Build", "Synth"))


def test_the_build_installs_from_the_lock_files_tests_and_then_synthesizes(pipeline_synth: PipelineSynth) -> None:
    phases = synth_buildspec(pipeline_synth)["phases"]

    assert "make install" in phases["install"]["commands"]
    ci, synth = phases["build"]["commands"]
    assert ci == "bash .ci/run"
    assert "node_modules/.bin/cdk synth" in synth
    # .ci/run is CI's one entry point; it ends in `make test`, which must pass before the synth runs.
    ci_script = (ROOT / ".ci" / "run").read_text().split("\n")
    assert "set -euo pipefail" in ci_script
    assert [line for line in ci_script if line.strip()][-1] == "make test"


def test_make_install_installs_from_the_lock_files() -> None:
    makefile = (ROOT / "Makefile").read_text()

    assert "npm ci " in makefile
    assert "pip install --quiet --disable-pip-version-check -r requirements-dev.txt" in makefile


def test_the_build_synthesizes_with_the_context_the_pipeline_was_deployed_with(pipeline_synth: PipelineSynth) -> None:
    synth = synth_buildspec(pipeline_synth)["phases"]["build"]["commands"][-1]

    for argument in (
        "-c github_repository=acme/orders-api",
        "-c github_branch=release",
        f"-c codestar_connection_arn={CONNECTION_ARN}",
        "-c notification_emails=ops@example.com,oncall@example.com",
    ):
        assert argument in synth
    # Environments can only come from cdk.json, which the build checks out.
    assert "environments" not in synth


def test_the_build_runs_the_python_of_the_functions_runtime(pipeline_synth: PipelineSynth) -> None:
    runtimes = {stage.stage.api_stack.api.runtime.name for stage in pipeline_synth.stages.values()}
    buildspec = synth_buildspec(pipeline_synth)
    project = pipeline_synth.pipeline_json["Resources"][pipeline_synth.action_project("Build", "Synth")]

    assert runtimes == {"python3.14"}
    assert buildspec["phases"]["install"]["runtime-versions"] == {"python": "3.14"}
    assert "python3.14 --version" in buildspec["phases"]["install"]["commands"]
    # So the bundles it synthesizes have bytecode of 3.14, or the build fails.
    assert " -c require_bytecode=true " in buildspec["phases"]["build"]["commands"][-1]
    # Ubuntu 24.04's standard image offers 3.10 to 3.14 through runtime-versions.
    assert project["Properties"]["Environment"]["Image"] == "aws/codebuild/standard:8.0"
    assert buildspec["artifacts"] == {"base-directory": "cdk.out", "files": ["**/*"]}


def test_the_pipeline_updates_itself_before_deploying(pipeline_synth: PipelineSynth) -> None:
    names = stage_names(pipeline_synth)

    assert names.index("Build") < names.index("UpdatePipeline") < names.index("Assets") < names.index("staging")
    assert actions_in_order(pipeline_synth, "UpdatePipeline") == [("SelfMutate", "CodeBuild")]
    self_mutation = pipeline_synth.codebuild_buildspec(pipeline_synth.action_project("UpdatePipeline", "SelfMutate"))
    install = json.dumps(self_mutation["phases"]["install"])
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert f"aws-cdk@{pinned}" in install  # the same CLI as package.json's


# The environments, in order.


def test_staging_deploys_before_production_and_a_person_approves_production_first(
    pipeline_synth: PipelineSynth,
) -> None:
    names = stage_names(pipeline_synth)

    assert names[-2:] == ["staging", "production"]
    assert actions_in_order(pipeline_synth, "staging") == [
        (f"{STACK_NAME}.Prepare", "CloudFormation"),
        (f"{STACK_NAME}.Deploy", "CloudFormation"),
        ("SmokeTest", "CodeBuild"),
    ]
    assert actions_in_order(pipeline_synth, "production") == [
        ("Approve", "Manual"),
        (f"{STACK_NAME}.Prepare", "CloudFormation"),
        (f"{STACK_NAME}.Deploy", "CloudFormation"),
        ("SmokeTest", "CodeBuild"),
    ]


def test_each_environment_deploys_to_its_own_account_and_region(pipeline_synth: PipelineSynth) -> None:
    where = {name: (stage.stage.account, stage.stage.region) for name, stage in pipeline_synth.stages.items()}

    assert where == {"staging": ("222222222222", "eu-west-1"), "production": ("333333333333", "eu-central-1")}
    deploy_roles = [
        json.dumps(action["RoleArn"])
        for name in ("staging", "production")
        for action in pipeline_synth.pipeline_stage(name)["Actions"]
        if action["ActionTypeId"]["Provider"] == "CloudFormation"
    ]
    assert all("222222222222" in role for role in deploy_roles[:2])
    assert all("333333333333" in role for role in deploy_roles[2:])


def test_each_environment_has_its_own_configuration(pipeline_synth: PipelineSynth) -> None:
    staging, production = pipeline_synth.stages["staging"], pipeline_synth.stages["production"]

    assert staging.only("AWS::ApiGatewayV2::Stage")["Properties"]["StageName"] == "staging"
    assert production.only("AWS::ApiGatewayV2::Stage")["Properties"]["StageName"] == "prod"
    assert staging.only("AWS::ApiGatewayV2::Authorizer")["Properties"]["JwtConfiguration"] == {
        "Issuer": "https://securetoken.google.com/orders-staging",
        "Audience": ["orders-staging"],
    }
    assert production.only("AWS::ApiGatewayV2::Authorizer")["Properties"]["JwtConfiguration"] == {
        "Issuer": "https://securetoken.google.com/orders-prod",
        "Audience": ["orders-prod"],
    }
    routes = {
        name: {route["Properties"]["RouteKey"] for route in stage.resources("AWS::ApiGatewayV2::Route").values()}
        for name, stage in pipeline_synth.stages.items()
    }
    assert "GET /v1/docs" in routes["staging"]
    assert "GET /v1/docs" not in routes["production"]
    assert staging.resources("AWS::ApiGatewayV2::DomainName") == {}
    assert production.only("AWS::ApiGatewayV2::DomainName")["Properties"]["DomainName"] == "api.example.com"
    assert production.only("AWS::ApiGatewayV2::ApiMapping")["Properties"]["ApiMappingKey"] == "orders"


def test_the_stacks_are_named_after_their_environment(pipeline_synth: PipelineSynth) -> None:
    names = {name: stage.stage.api_stack.stack_name for name, stage in pipeline_synth.stages.items()}

    assert names == {"staging": f"staging-{STACK_NAME}", "production": f"production-{STACK_NAME}"}


# The smoke test after each deployment.


def smoke_action(synth: PipelineSynth, stage_name: str) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [a for a in synth.pipeline_stage(stage_name)["Actions"] if a["Name"] == "SmokeTest"]
    (action,) = actions
    return action


def role_statements(synth: PipelineSynth, project_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the project's role."""
    role = synth.pipeline_json["Resources"][project_logical_id]["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def secret_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if "secretsmanager" in json.dumps(s["Action"])]


def test_after_each_deployment_the_smoke_script_runs_against_the_stacks_url(pipeline_synth: PipelineSynth) -> None:
    context = {**cdk_json_context(), **PIPELINE_CONTEXT}
    config = PipelineConfig.from_context(context, api_context=context)
    assert config is not None
    source_output = pipeline_synth.pipeline_stage("Source")["Actions"][0]["OutputArtifacts"]
    commands = {}
    for environment in config.environments:
        action = smoke_action(pipeline_synth, environment.name)
        variables = json.loads(action["Configuration"]["EnvironmentVariables"])
        stage = pipeline_synth.stages[environment.name]
        buildspec = pipeline_synth.codebuild_buildspec(action["Configuration"]["ProjectName"]["Ref"])

        # The URL is the stack's ApiUrl output, read from the deploy action's variables.
        assert variables == [
            {"name": "API_URL", "type": "PLAINTEXT", "value": f"#{{{stage.stage.api_stack.artifact_id}.ApiUrl}}"}
        ]
        assert "ApiUrl" in stage.template_json["Outputs"]
        # The script comes from the commit being deployed, its one requirement from the lock.
        assert action["InputArtifacts"] == source_output
        assert buildspec["phases"]["install"]["commands"] == [SMOKE_INSTALL]
        assert buildspec["phases"]["install"]["runtime-versions"] == {"python": config.python_version}
        # As the environment is configured: its groups claim, its docs served or not.
        commands[environment.name] = buildspec["phases"]["build"]["commands"]
        assert commands[environment.name] == [
            smoke_command(groups_claim=environment.api.jwt_groups_claim, docs=environment.api.docs_enabled)
        ]
    assert commands["staging"][0].endswith(" --docs")
    assert commands["production"][0].endswith(" --no-docs")


def test_the_smoke_step_signs_in_with_its_environments_secret_which_its_role_alone_may_read(
    pipeline_synth: PipelineSynth,
) -> None:
    project = smoke_action(pipeline_synth, "staging")["Configuration"]["ProjectName"]["Ref"]
    buildspec = pipeline_synth.codebuild_buildspec(project)
    environment = pipeline_synth.pipeline_json["Resources"][project]["Properties"]["Environment"]

    # CodeBuild reads the secret by its ARN into the variable the script reads, masking it in the log.
    assert buildspec["env"] == {"secrets-manager": {SMOKE_USER_VARIABLE: STAGING_SMOKE_USER_SECRET_ARN}}
    assert "EnvironmentVariables" not in environment
    assert secret_statements(role_statements(pipeline_synth, project)) == [
        {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": STAGING_SMOKE_USER_SECRET_ARN}
    ]
    # No other role of the pipeline may read it.
    others = [
        statement
        for logical_id, resource in pipeline_synth.resources("AWS::CodeBuild::Project").items()
        if logical_id != project
        for statement in role_statements(pipeline_synth, logical_id)
    ]
    assert STAGING_SMOKE_USER_SECRET_ARN not in json.dumps(others)
    assert secret_statements(others) == []


def test_without_a_secret_the_smoke_step_runs_the_unauthenticated_checks_only(pipeline_synth: PipelineSynth) -> None:
    project = smoke_action(pipeline_synth, "production")["Configuration"]["ProjectName"]["Ref"]
    buildspec = pipeline_synth.codebuild_buildspec(project)

    assert "env" not in buildspec
    assert SMOKE_USER_VARIABLE not in json.dumps(pipeline_synth.pipeline_json["Resources"][project])
    assert secret_statements(role_statements(pipeline_synth, project)) == []


def test_the_smoke_steps_requirements_are_pinned_in_the_lock() -> None:
    pinned = {
        line.partition("==")[0].lower(): line.strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    required = [line.strip() for line in (ROOT / "smoke" / "requirements.txt").read_text().splitlines() if "==" in line]

    assert required
    for requirement in required:
        assert pinned[requirement.partition("==")[0].lower()] == requirement


# Without the context.


def test_without_the_context_synth_succeeds_without_a_pipeline(no_pipeline_synth: PipelineSynth) -> None:
    manifest = json.loads((no_pipeline_synth.assembly_dir / "manifest.json").read_text())

    assert no_pipeline_synth.stacks.pipeline is None
    assert PIPELINE_STACK_NAME not in manifest["artifacts"]
    assert not any(name.startswith("assembly-") for name in manifest["artifacts"])
    assert NO_PIPELINE in no_pipeline_synth.stderr.splitlines()
    assert "\n" not in NO_PIPELINE


def test_with_the_context_the_laptops_stack_is_still_there(pipeline_synth: PipelineSynth) -> None:
    manifest = json.loads((pipeline_synth.assembly_dir / "manifest.json").read_text())

    assert {STACK_NAME, PIPELINE_STACK_NAME} <= set(manifest["artifacts"])
    assert NO_PIPELINE not in pipeline_synth.stderr
