"""The product's own checks (smoke/product_checks/) against the sandbox, for a user of every kind they name.

The checks' file says, per route, what it asks of a caller and the status each kind of caller
gets. Here the sandbox's offline issuer knows, from a users file, a user of each kind for each
check (its scope and group; without the scope; with the scope, outside the groups), minted
from the check itself, and `python -m smoke` runs as the pipeline runs it for each, and once
without a user. A team's route in a group of its own (docs/recipes.md, "Add a route": CLERKS)
is checked this way: 200 for its member, API Gateway's 403 without the scope, the function's
403 outside the group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.core.access.declaration import RouteAccess
from service.core.identity.local import LocalUser
from smoke.product import DEFAULT_FILE, ProductCheck, ProductChecksError, load_product_checks
from tests.declared import CALLER_PASSWORD, UNDECLARED_GROUP, caller_of, declared_routes, users_file
from tests.smoke.test_smoke_sandbox import run_smoke
from tests.support_sandbox import changed_assembly, function_properties, running_offline_services, running_sandbox

PRODUCT_CHECKS = load_product_checks(DEFAULT_FILE)


def test_each_product_check_asks_what_its_route_declares() -> None:
    declared = {(route.method, route.path): route for route in declared_routes()}
    for check in PRODUCT_CHECKS:
        route = declared.get((check.method, check.path))
        assert route is not None, f"{check.name}: the app declares no such route ({DEFAULT_FILE})"
        assert (check.scopes, check.groups) == (route.scopes, route.groups), check.name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[check]]\nmethod = 'FETCH'\npath = '/v1/x'\nexpect = { allowed = 200 }", "method must be one of"),
        ("[[check]]\nmethod = 'GET'\npath = 'v1/x'\nexpect = { allowed = 200 }", "path must start with /"),
        ("[[check]]\nmethod = 'GET'\npath = '/v1/x'\nexpect = { admin = 200 }", "expect maps some of"),
        ("[[check]]\nmethod = 'GET'\npath = '/v1/x'\nexpect = { allowed = 'ok' }", "an HTTP status code"),
        ("[[check]\n", "not TOML"),
    ],
    ids=["method", "path", "kind", "status", "toml"],
)
def test_a_wrong_checks_file_is_refused_naming_the_check(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "checks.toml"
    path.write_text(text)
    with pytest.raises(ProductChecksError, match=message):
        load_product_checks(path)


def kinds_of_users(check: ProductCheck, number: int) -> dict[str, LocalUser]:
    """For each signed-in kind the check gives a status for, a user of that kind, named after it."""
    route = RouteAccess(check.method, check.path, check.name, False, check.scopes, check.groups)
    users = {"allowed": caller_of(route, username=f"allowed-{number}@example.com")}
    if check.scopes:
        users["without_scope"] = caller_of(route, username=f"without-scope-{number}@example.com", scopes=())
    if check.groups:
        users["without_group"] = caller_of(
            route, username=f"without-group-{number}@example.com", groups=(UNDECLARED_GROUP,)
        )
    return {kind: user for kind, user in users.items() if kind in check.expect}


@pytest.mark.e2e
def test_the_product_checks_pass_against_the_sandbox_for_every_kind_of_user(
    sandbox_assembly: Path, tmp_path: Path
) -> None:
    users = {
        (check.name, kind): user
        for number, check in enumerate(PRODUCT_CHECKS)
        for kind, user in kinds_of_users(check, number).items()
    }
    path = users_file(tmp_path / "users.json", *users.values())
    with running_offline_services(tmp_path, users_file=path) as issuer_url:

        def token_url_of_this_issuer(template: dict[str, Any]) -> None:
            function_properties(template)["Environment"]["Variables"]["OIDC_TOKEN_URL"] = issuer_url + "/token"

        assembly = changed_assembly(sandbox_assembly, tmp_path / "cdk.out", token_url_of_this_issuer)
        with running_sandbox(assembly, tmp_path, offline_url=issuer_url) as running:
            anonymous = run_smoke(running.base_url, None)
            runs = {
                key: run_smoke(
                    running.base_url,
                    {"username": user.username, "password": CALLER_PASSWORD, "groups": list(user.groups)},
                )
                for key, user in users.items()
            }

    assert anonymous.returncode == 0, anonymous.lines
    (anonymous_line,) = [line for line in anonymous.lines if line.startswith("ok   product:")]
    for (name, kind), run in runs.items():
        assert run.returncode == 0, run.lines
        (line,) = [line for line in run.lines if line.startswith("ok   product:")]
        (check,) = [check for check in PRODUCT_CHECKS if check.name == name]
        assert f"{name} {kind.replace('_', ' ')} {check.expect[kind]}" in line
        if "anonymous" in check.expect:
            assert f"{name} anonymous {check.expect['anonymous']}" in anonymous_line
