"""A route's scopes tightened in production only: its entry in `environments` carries `route_scopes`, staging's not.

Two environments alike but for their names and the override, so the only difference between
their stacks' routes and functions is the override (and the stage's name, which each
environment chooses). The route is one the app serves, with a scope where it declares one (tests/route_scopes.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.core.access.route_scopes import route_key
from tests.infra.conftest import cdk_json_context
from tests.infra.test_gateway_agreement import Access
from tests.pipeline.conftest import PIPELINE_CONTEXT, PipelineSynth, StageSynth, synthesize
from tests.route_scopes import STRONGER_SCOPE, tightened_route


def _access(stage: StageSynth) -> dict[str, Access]:
    return {
        r["Properties"]["RouteKey"]: (
            r["Properties"]["AuthorizationType"],
            tuple(r["Properties"]["AuthorizationScopes"]) if "AuthorizationScopes" in r["Properties"] else None,
        )
        for r in stage.resources("AWS::ApiGatewayV2::Route").values()
    }


def _function_environment(stage: StageSynth) -> dict[str, str]:
    variables: dict[str, str] = stage.service_function()["Properties"]["Environment"]["Variables"]
    return variables


@pytest.fixture(scope="module")
def tightened(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineSynth, str]:
    route = tightened_route()
    key = route_key(route.method, route.path)
    alike: dict[str, Any] = {"region": "eu-west-1", "docs_enabled": False, "canary": True}
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
    context = {**cdk_json_context(), **PIPELINE_CONTEXT, "environments": environments}
    return synthesize(tmp_path_factory.mktemp("route-scopes-pipeline"), context), key


def test_staging_and_production_differ_exactly_by_the_production_only_override(
    tightened: tuple[PipelineSynth, str],
) -> None:
    synth, key = tightened
    staging, production = synth.stages["staging"], synth.stages["production"]
    staging_access, production_access = _access(staging), _access(production)

    assert production_access[key] == ("JWT", (STRONGER_SCOPE,))
    assert staging_access[key] == ("JWT", tightened_route().scopes or None)
    assert {k: v for k, v in production_access.items() if k != key} == {
        k: v for k, v in staging_access.items() if k != key
    }


def test_only_productions_function_learns_the_override(tightened: tuple[PipelineSynth, str]) -> None:
    synth, key = tightened
    staging = dict(_function_environment(synth.stages["staging"]))
    production = dict(_function_environment(synth.stages["production"]))

    assert json.loads(production.pop("ROUTE_SCOPES")) == {key: [STRONGER_SCOPE]}
    assert "ROUTE_SCOPES" not in staging
    # Besides the override, only the stage's name (each environment's own) tells them apart.
    assert (staging.pop("AWS_API_GW_STAGE_NAME"), production.pop("AWS_API_GW_STAGE_NAME")) == ("staging", "prod")
    assert staging == production
