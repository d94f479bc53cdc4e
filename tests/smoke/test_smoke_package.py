"""The smoke script calls the app's own routes, as they declare their access, and needs only what its step installs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from service.api.routes.docs import OPENAPI_PATH
from service.app import create_app
from service.core.access.declaration import describe_routes
from service.core.settings import IdentityProviderName, Runtime, Settings
from smoke import checks
from tests.support import ROOT, server_env

SMOKE_DIR = ROOT / "smoke"


def test_the_routes_the_script_calls_are_the_apps_with_the_access_it_expects(tmp_path: Path) -> None:
    app = create_app(
        Settings(
            runtime=Runtime.LOCAL,
            identity_provider=IdentityProviderName.LOCAL,
            local_idp_key_file=tmp_path / "key.pem",
            docs_enabled=True,
        )
    )
    routes = {(route.method, route.path): route for route in describe_routes(app)}

    health = routes["GET", checks.HEALTH_PATH]
    token = routes["POST", checks.TOKEN_PATH]
    whoami = routes["GET", checks.WHOAMI_PATH]
    admin = routes["GET", checks.ADMIN_PATH]

    assert health.public
    assert token.public
    # Any valid token opens whoami: a Firebase ID token has no scope, and must still get in.
    assert (whoami.public, whoami.scopes, whoami.groups) == (False, (), ())
    # The admin route wants a group, the script's default one, and no scope.
    assert (admin.public, admin.scopes) == (False, ())
    assert admin.groups == ("ADMINS",)
    assert checks.OPENAPI_PATH == OPENAPI_PATH
    assert ("GET", checks.DOCS_PATH) in routes
    assert {(method.upper(), path) for method, path in checks.CALLED_OPERATIONS} <= set(routes)


def test_the_script_imports_only_the_standard_library_and_its_own_requirements() -> None:
    lines = [
        line.strip()
        for line in (SMOKE_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # A package by name, or a project by path (the generated client): the packages in its folder.
    requirements = {line.partition("==")[0].strip().lower() for line in lines if not line.startswith("./")}
    for project in (ROOT / line for line in lines if line.startswith("./")):
        requirements |= {init.parent.name for init in project.glob("*/__init__.py")}
    imported = set()
    for source in SMOKE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])

    third_party = imported - set(sys.stdlib_module_names) - {"smoke", "__future__"}
    assert third_party <= requirements
    assert "httpx" in third_party


@pytest.mark.parametrize(
    "text",
    [
        "hunter2-not-json",
        '["hunter2-not-json"]',
        '{"password": "hunter2-not-json"}',
        '{"username": "u", "password": "hunter2-not-json", "groups": "ADMINS"}',
    ],
)
def test_a_malformed_test_user_stops_the_script_without_printing_it(text: str) -> None:
    env = {**server_env(), "SMOKE_USER": text}
    completed = subprocess.run(
        [sys.executable, "-m", "smoke", "--base-url", "http://127.0.0.1:9/never-called"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2
    assert "SMOKE_USER" in completed.stderr
    assert "hunter2" not in completed.stdout + completed.stderr
