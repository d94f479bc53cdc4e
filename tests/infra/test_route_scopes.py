"""The context key `route_scopes`: the gateway's routes and the function's `ROUTE_SCOPES` follow it, and only it.

Routes and scopes come from the app's declarations (tests/declared.py), so the tests hold
whatever routes a team declares: the overrides go on routes the app serves (tests/route_scopes.py);
in-process tests that need a scoped route the app lacks get the throwaway (`scoped`).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from aws_cdk import App

from app import build
from infra.config import ApiConfig, ConfigError
from infra.dev_context import DevContextError, route_scopes_for
from infra.limits import LimitExceeded
from infra.routes import gateway_routes
from service.app import create_app
from service.core.access.declaration import MAX_ROUTE_SCOPES, RouteAccess
from service.core.access.route_scopes import route_key
from service.core.settings import build_settings
from tests.declared import PUBLIC_ROUTES, a_declared_scope
from tests.infra.conftest import HOST_CONTEXT, Synthesized, cdk_json_context, synthesize
from tests.infra.test_context_refusals import run_app
from tests.infra.test_gateway_agreement import Access, gateway_access
from tests.route_scopes import STRONGER_SCOPE, known_scopes, route_scopes_context, tightened_route, token_only_route
from tests.support import ROOT

SCOPE = a_declared_scope()


def key_of(route: RouteAccess) -> str:
    return route_key(route.method, route.path)


def test_each_override_replaces_its_routes_scopes_and_no_other_route_changes(
    default_synth: Synthesized, override_synth: Synthesized
) -> None:
    declared, overridden = gateway_access(default_synth), gateway_access(override_synth)
    scoped, token_only = key_of(tightened_route()), key_of(token_only_route())

    assert overridden[scoped] == ("JWT", (STRONGER_SCOPE,))
    assert overridden[token_only] == ("JWT", (SCOPE,))
    # What the two had before, and everything else as it was.
    assert declared[scoped] != overridden[scoped]
    assert declared[token_only] == ("JWT", None)
    unchanged: dict[str, Access] = {k: v for k, v in overridden.items() if k not in (scoped, token_only)}
    assert unchanged == {k: v for k, v in declared.items() if k not in (scoped, token_only)}


def test_the_function_learns_only_the_overrides_from_one_variable(
    default_synth: Synthesized, override_synth: Synthesized
) -> None:
    environment = dict(override_synth.function_environment)
    overrides = json.loads(route_scopes_context()["route_scopes"])

    assert json.loads(environment.pop("ROUTE_SCOPES")) == overrides
    assert environment == default_synth.function_environment


def test_an_empty_list_routes_any_valid_token_through_the_authorizer(scoped: RouteAccess) -> None:
    route = scoped
    app = create_app(build_settings(route_scopes=json.dumps({key_of(route): []})))

    (gateway,) = [r for r in gateway_routes(app) if r.key == key_of(route)]
    assert (gateway.authorized, gateway.scopes) == (True, ())


@pytest.mark.parametrize(
    ("route_scopes", "known_scopes", "refusal"),
    [
        (
            {"GET /v1/items": ["orders:admin"]},
            {},
            "invalid CDK context: route_scopes: 'GET /v1/items' asks for 'orders:admin', which is declared neither in "
            "the service (KNOWN_SCOPES in service/core/access/declaration.py) nor in the context key known_scopes; "
            'fix: add it to known_scopes with what it grants ({"orders:admin": "..."}), or correct the name',
        ),
        (
            {"GET /v1/items": [f"s:{n}" for n in range(11)]},
            {f"s:{n}": "one of many" for n in range(11)},
            "invalid CDK context: route_scopes: 'GET /v1/items' asks for 11 scopes, over API Gateway's limit of 10 "
            "scopes per route (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html); "
            "fix: keep at most 10 (a token needs only one of them)",
        ),
        (
            {"/v1/items": []},
            {},
            "invalid CDK context: route_scopes: '/v1/items' is not a route key; write it as the gateway does, "
            'METHOD /path: {"GET /v1/items": ["items:write"]}',
        ),
        (
            {},
            {"two words": "a scope"},
            "invalid CDK context: known_scopes: 'two words' is not a scope name (no spaces or quotes): "
            '{"items:write": "Change the items"}',
        ),
    ],
)
def test_a_bad_override_is_refused_in_one_line_with_the_fix(
    route_scopes: dict[str, list[str]], known_scopes: dict[str, str], refusal: str
) -> None:
    context = {**cdk_json_context(), "route_scopes": json.dumps(route_scopes), "known_scopes": known_scopes}
    with pytest.raises(ConfigError) as raised:
        ApiConfig.from_context(context)

    assert str(raised.value) == refusal


def test_an_override_for_an_environment_names_its_entry() -> None:
    context = {"route_scopes": {"GET /v1/items": ["orders:admin"]}}
    with pytest.raises(ConfigError, match=r"^invalid CDK context: environments\.production: route_scopes: "):
        ApiConfig.from_context({**cdk_json_context(), **context}, key_prefix="environments.production.")


def test_an_unknown_route_key_is_refused_with_the_closest_route(scoped: RouteAccess, tmp_path: Path) -> None:
    route = key_of(scoped)
    app = App(context={**cdk_json_context(), "route_scopes": json.dumps({route + "s": []})}, outdir=str(tmp_path))

    with pytest.raises(ConfigError) as raised:
        build(app)

    assert str(raised.value) == (
        f"invalid CDK context: route_scopes (stack {cdk_json_context()['stack_name']}): "
        f"'{route}s' is not a route the service serves; did you mean '{route}'?"
    )


def test_synth_refuses_scopes_on_a_public_route_in_one_line_saying_why(tmp_path: Path) -> None:
    # The app's own public route (the synth runs in another process, where no test adds a route):
    # the template serves its token endpoint and health check without a token.
    assert PUBLIC_ROUTES, "the app serves no public route"
    route = key_of(PUBLIC_ROUTES[0])
    # For this machine's Python, as the other tests' synths: the bundle is built before the app is read.
    context = {**HOST_CONTEXT, "known_scopes": json.dumps(known_scopes())}
    result = run_app(tmp_path, **context, route_scopes=json.dumps({route: [SCOPE]}))

    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    stack = cdk_json_context()["stack_name"]
    assert result.stderr.startswith(
        f"error: invalid CDK context: route_scopes (stack {stack}): '{route}' is public in the service"
    )
    assert "never sees a token for it" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_dev_reads_the_same_value_from_the_same_context(override_synth: Synthesized) -> None:
    context = {**cdk_json_context(), **route_scopes_context()}

    assert route_scopes_for(context) == override_synth.function_environment["ROUTE_SCOPES"]


def test_make_dev_takes_a_pipeline_environments_entry_over_the_rest() -> None:
    production = {"route_scopes": json.loads(route_scopes_context()["route_scopes"])}
    production["known_scopes"] = json.loads(route_scopes_context()["known_scopes"])
    context = {**cdk_json_context(), "environments": {"staging": {}, "production": production}}

    assert route_scopes_for(context, environment="staging") == ""
    assert json.loads(route_scopes_for(context, environment="production")) == production["route_scopes"]
    with pytest.raises(DevContextError, match=r"^environments\.prod: no such environment in the context"):
        route_scopes_for(context, environment="prod")


def test_make_dev_runs_the_server_with_that_value_for_the_named_environment() -> None:
    commands = subprocess.run(
        ["make", "-n", "-B", "dev", "ENVIRONMENT=production"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout

    assert "-m infra.dev_context --environment production" in commands
    assert 'ROUTE_SCOPES="$route_scopes" .venv/bin/python -m service.runtime.local' in commands


def test_overrides_past_the_functions_4_kb_environment_are_refused_by_the_limits_check(tmp_path: Path) -> None:
    long_scopes = [f"scope:{n}:" + "x" * 200 for n in range(MAX_ROUTE_SCOPES)]
    overrides = {key_of(tightened_route()): long_scopes, key_of(token_only_route()): long_scopes}
    context = {
        "route_scopes": json.dumps(overrides),
        "known_scopes": json.dumps(dict.fromkeys(long_scopes, "a scope with a long name")),
    }

    with pytest.raises(LimitExceeded, match=r"the function's environment \(names and values\) is [\d,]+ bytes, over"):
        synthesize(tmp_path, **context)
