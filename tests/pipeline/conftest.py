"""The app synthesized through `app.build`, once per session: with the pipeline's context, and without it.

Context values are given as `cdk synth -c key=value` gives them (strings); the environments
are an object, as only cdk.json can hold them. Each synthesis bundles the service three times
(the laptop's stack and two environments, from the warm wheel cache), so every test shares them.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from app import Stacks, build
from infra.constructs.lambda_api import HANDLER
from infra.stages import ApiStage
from service.core.access.route_scopes import route_key
from tests.infra.conftest import cdk_json_context
from tests.route_scopes import STRONGER_SCOPE, tightened_route

PIPELINE_ACCOUNT = "111111111111"
PIPELINE_REGION = "eu-west-1"
CONNECTION_ARN = (
    f"arn:aws:codeconnections:{PIPELINE_REGION}:{PIPELINE_ACCOUNT}:connection/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
)
# Staging's smoke test signs in with this secret's user; production has none (unauthenticated checks only).
STAGING_SMOKE_USER_SECRET_ARN = (
    f"arn:aws:secretsmanager:{PIPELINE_REGION}:{PIPELINE_ACCOUNT}:secret:orders-api/staging/smoke-user-Xy12Ab"
)

# Its deployment hooks run in staging's own account, and read the same user from a copy there.
STAGING_HOOK_USER_SECRET_ARN = (
    "arn:aws:secretsmanager:eu-west-1:222222222222:secret:orders-api/staging/smoke-user-Pq34Rs"
)

# The topic the `tightened` pipeline's environments name for their standing alarms (`alarm_topic_arn`).
ON_CALL_TOPIC_ARN = f"arn:aws:sns:{PIPELINE_REGION}:444444444444:orders-on-call"

PIPELINE_CONTEXT: dict[str, Any] = {
    "github_repository": "acme/orders-api",
    "github_branch": "release",
    "codestar_connection_arn": CONNECTION_ARN,
    "notification_emails": "ops@example.com,oncall@example.com",
    "slack_workspace_id": "T0123ABCD",
    "slack_channel_id": "C0456EFGH",
    # Two accounts besides the pipeline's, each environment with its own identity provider and docs choice.
    "environments": {
        "staging": {
            "account": "222222222222",
            "region": "eu-west-1",
            "stage_name": "staging",
            "docs_enabled": True,
            "canary": True,
            "jwt_issuer": "https://securetoken.google.com/orders-staging",
            "jwt_audience": ["orders-staging"],
            "smoke_user_secret_arn": STAGING_SMOKE_USER_SECRET_ARN,
            "hook_user_secret_arn": STAGING_HOOK_USER_SECRET_ARN,
        },
        "production": {
            "account": "333333333333",
            "region": "eu-central-1",
            "manual_approval": True,
            "stage_name": "prod",
            "docs_enabled": False,
            "canary": True,
            "jwt_issuer": "https://securetoken.google.com/orders-prod",
            "jwt_audience": ["orders-prod"],
            "domain_name": "api.example.com",
            "certificate_arn": "arn:aws:acm:eu-central-1:333333333333:certificate/11111111-2222-3333-4444-555555555555",
            "mapping_key": "orders",
        },
    },
}


@dataclass(frozen=True)
class StageSynth:
    stage: ApiStage
    template: Template
    template_json: dict[str, Any]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template_json["Resources"].items() if v["Type"] == resource_type}

    def only(self, resource_type: str) -> dict[str, Any]:
        (resource,) = self.resources(resource_type).values()
        return resource

    def service_function(self) -> dict[str, Any]:
        """The service's function (a canary stage also holds the deployment hooks' functions)."""
        functions = self.resources("AWS::Lambda::Function").values()
        (function,) = [f for f in functions if f["Properties"]["Handler"] == HANDLER]
        return function


@dataclass(frozen=True)
class PipelineSynth:
    stacks: Stacks
    assembly_dir: Path
    pipeline_template: Template
    pipeline_json: dict[str, Any]
    stages: dict[str, StageSynth]
    stderr: str

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.pipeline_json["Resources"].items() if v["Type"] == resource_type}

    @property
    def codepipeline(self) -> dict[str, Any]:
        (pipeline,) = self.resources("AWS::CodePipeline::Pipeline").values()
        properties: dict[str, Any] = pipeline["Properties"]
        return properties

    def pipeline_stage(self, name: str) -> dict[str, Any]:
        stages: list[dict[str, Any]] = [stage for stage in self.codepipeline["Stages"] if stage["Name"] == name]
        (stage,) = stages
        return stage

    def codebuild_buildspec(self, project_logical_id: str) -> dict[str, Any]:
        project = self.pipeline_json["Resources"][project_logical_id]["Properties"]
        buildspec: dict[str, Any] = json.loads(project["Source"]["BuildSpec"])
        return buildspec

    def action_project(self, stage_name: str, action_name: str) -> str:
        """The logical id of the CodeBuild project a pipeline action runs."""
        (action,) = [a for a in self.pipeline_stage(stage_name)["Actions"] if a["Name"] == action_name]
        logical_id: str = action["Configuration"]["ProjectName"]["Ref"]
        return logical_id


def synthesize(outdir: Path, context: dict[str, Any]) -> PipelineSynth:
    """What `cdk synth` builds with this context, in this process; stderr is what the app printed."""
    app = App(context=context, outdir=str(outdir))
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        stacks = build(app)
    assembly = app.synth()
    stages: dict[str, StageSynth] = {}
    pipeline_template, pipeline_json = Template.from_json({}), {}
    if stacks.pipeline is not None:
        pipeline_json = assembly.get_stack_by_name(stacks.pipeline.stack_name).template
        pipeline_template = Template.from_json(pipeline_json)
        for stage in stacks.pipeline.stages:
            template_json = stage.synth().get_stack_by_name(stage.api_stack.stack_name).template
            stages[stage.stage_name] = StageSynth(stage, Template.from_json(template_json), template_json)
    return PipelineSynth(
        stacks=stacks,
        assembly_dir=outdir,
        pipeline_template=pipeline_template,
        pipeline_json=pipeline_json,
        stages=stages,
        stderr=printed.getvalue(),
    )


@pytest.fixture(scope="session")
def pipeline_synth(tmp_path_factory: pytest.TempPathFactory) -> PipelineSynth:
    """cdk.json with the pipeline's context set."""
    return synthesize(tmp_path_factory.mktemp("pipeline"), {**cdk_json_context(), **PIPELINE_CONTEXT})


@pytest.fixture(scope="session")
def no_pipeline_synth(tmp_path_factory: pytest.TempPathFactory) -> PipelineSynth:
    """cdk.json as committed: no repository, branch or connection."""
    return synthesize(tmp_path_factory.mktemp("no-pipeline"), cdk_json_context())


@pytest.fixture(scope="session")
def tightened(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineSynth, str]:
    """Two environments in the pipeline's region, alike but for their names, accounts and production's route scopes.

    Production's entry tightens a route's scopes (the route's key is returned with the synth);
    both name one alarm topic at the top level, `ON_CALL_TOPIC_ARN`, instead of the pipeline's.
    """
    route = tightened_route()
    key = route_key(route.method, route.path)
    alike: dict[str, Any] = {"region": PIPELINE_REGION, "docs_enabled": False, "canary": True}
    environments = {
        "staging": {**alike, "account": "222222222222", "stage_name": "staging"},
        "production": {
            **alike,
            "account": "333333333333",
            "stage_name": "prod",
            "manual_approval": True,
            "route_scopes": {key: [STRONGER_SCOPE]},
            "known_scopes": {STRONGER_SCOPE: "Change the route's data (operators only)"},
        },
    }
    context = {
        **cdk_json_context(),
        **PIPELINE_CONTEXT,
        "alarm_topic_arn": ON_CALL_TOPIC_ARN,
        "environments": environments,
    }
    return synthesize(tmp_path_factory.mktemp("route-scopes-pipeline"), context), key
