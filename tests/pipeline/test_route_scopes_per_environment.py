"""A route's scopes tightened in production only: its entry in `environments` carries `route_scopes`, staging's not.

Two environments alike but for their names and the override, so the only difference between
their stacks' routes and functions is the override (and the stage's name, which each
environment chooses). The route is one the app serves, with a scope where it declares one (tests/route_scopes.py).
"""

from __future__ import annotations

import json

from tests.infra.test_gateway_agreement import Access
from tests.pipeline.conftest import PipelineSynth, StageSynth
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
