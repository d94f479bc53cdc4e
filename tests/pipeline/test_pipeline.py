"""The pipeline: its source, its build, the order of its stages, the approval and the health checks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from app import NO_PIPELINE
from infra.stacks.pipeline_stack import health_check_command
from tests.infra.conftest import ROOT
from tests.pipeline.conftest import CONNECTION_ARN, PIPELINE_ACCOUNT, PIPELINE_REGION, PipelineSynth
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
        ("HealthCheck", "CodeBuild"),
    ]
    assert actions_in_order(pipeline_synth, "production") == [
        ("Approve", "Manual"),
        (f"{STACK_NAME}.Prepare", "CloudFormation"),
        (f"{STACK_NAME}.Deploy", "CloudFormation"),
        ("HealthCheck", "CodeBuild"),
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


# The health check after each deployment.


def test_after_each_deployment_the_health_route_is_called_at_the_stacks_url(pipeline_synth: PipelineSynth) -> None:
    for name, stage in pipeline_synth.stages.items():
        (action,) = [a for a in pipeline_synth.pipeline_stage(name)["Actions"] if a["Name"] == "HealthCheck"]
        variables = json.loads(action["Configuration"]["EnvironmentVariables"])
        api_stack = stage.stage.api_stack
        buildspec = pipeline_synth.codebuild_buildspec(action["Configuration"]["ProjectName"]["Ref"])

        # The URL is the stack's ApiUrl output, read from the deploy action's variables.
        assert variables == [{"name": "API_URL", "type": "PLAINTEXT", "value": f"#{{{api_stack.artifact_id}.ApiUrl}}"}]
        assert "ApiUrl" in stage.template_json["Outputs"]
        assert buildspec["phases"]["build"]["commands"] == [health_check_command("/v1/manage/hc")]
        assert api_stack.api.health_path == "/v1/manage/hc"
        assert "GET /v1/manage/hc" in {route.key for route in api_stack.api.gateway_routes if not route.authorized}


def run_health_check(tmp_path: Path, *, answers: str, curl_exit: int = 0) -> subprocess.CompletedProcess[str]:
    """The health check's shell line, with a stand-in curl that prints `answers` as the status code."""
    fake = tmp_path / "curl"
    fake.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/curl-args"\nprintf "{answers}"\nexit {curl_exit}\n')
    fake.chmod(0o755)
    env = {
        "PATH": f"{tmp_path}:{os.environ['PATH']}",
        "API_URL": "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
    }
    return subprocess.run(
        ["/bin/sh", "-c", health_check_command("/v1/manage/hc")], env=env, capture_output=True, text=True, check=False
    )


def test_the_health_check_passes_on_200_only(tmp_path: Path) -> None:
    ok = run_health_check(tmp_path, answers="200")
    args = (tmp_path / "curl-args").read_text()

    assert ok.returncode == 0, ok.stderr
    assert "GET /v1/manage/hc: 200" in ok.stdout
    assert "https://abc.execute-api.eu-west-1.amazonaws.com/prod/v1/manage/hc" in args
    assert "--retry 5" in args
    for status, curl_exit in (("204", 0), ("404", 0), ("503", 0), ("000", 7)):
        failed = run_health_check(tmp_path, answers=status, curl_exit=curl_exit)
        assert failed.returncode != 0, status


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
