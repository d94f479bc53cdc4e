"""docs/recipes.md's "Require a stronger scope for one route in production only", applied as written to cdk.json.

Its `diff` is applied with `git apply` to a copy of cdk.json; then production, and only
production, gets the route's new scopes: in its configuration, in the `ROUTE_SCOPES` its
function and `make dev ENVIRONMENT=production` get, and in the gateway route the service's
document gives. The recipe names the demo's route; where a team removed it, the test says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from infra.config import ApiConfig, PipelineConfig
from infra.dev_context import route_scopes_for
from infra.routes import gateway_routes
from service.app import create_app
from service.core.access.route_scopes import route_key
from service.core.settings import build_settings
from tests.declared import declared_routes
from tests.pipeline.conftest import PIPELINE_CONTEXT
from tests.support import ROOT
from tests.test_recipes import RECIPES, recipe_steps

TITLE = "Require a stronger scope for one route in production only"


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """cdk.json's context with the recipe's diff applied, as `git apply` applies it."""
    (step,) = recipe_steps(RECIPES.read_text(), TITLE)
    assert step.kind == "diff"
    checkout = tmp_path_factory.mktemp("recipe-route-scopes")
    shutil.copy2(ROOT / "cdk.json", checkout / "cdk.json")
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    subprocess.run(["git", "apply", "-"], cwd=checkout, input=step.body, text=True, check=True)
    context: dict[str, Any] = json.loads((checkout / "cdk.json").read_text())["context"]
    return context


def _override(context: dict[str, Any]) -> tuple[str, list[str]]:
    ((key, scopes),) = context["environments"]["production"]["route_scopes"].items()
    if key not in {route_key(r.method, r.path) for r in declared_routes()}:
        pytest.skip(f"the recipe's route {key} is not served (the demo route was removed)")
    return key, scopes


def test_production_and_only_production_gets_the_routes_new_scopes(applied: dict[str, Any]) -> None:
    key, scopes = _override(applied)
    api_context = {name: applied[name] for name in ApiConfig.model_fields if name in applied}
    pipeline = PipelineConfig.from_context(
        {**applied, **PIPELINE_CONTEXT, "environments": applied["environments"]}, api_context=api_context
    )

    assert pipeline is not None
    by_name = {environment.name: environment.api for environment in pipeline.environments}
    assert by_name["production"].route_scopes == {key: tuple(scopes)}
    assert all(api.route_scopes == {} for name, api in by_name.items() if name != "production")


def test_make_dev_for_production_and_the_function_get_the_override(applied: dict[str, Any]) -> None:
    key, scopes = _override(applied)
    variable = route_scopes_for(applied, environment="production")

    assert json.loads(variable) == {key: scopes}
    assert route_scopes_for(applied, environment="staging") == ""
    (route,) = [r for r in gateway_routes(create_app(build_settings(route_scopes=variable))) if r.key == key]
    assert (route.authorized, route.scopes) == (True, tuple(scopes))
