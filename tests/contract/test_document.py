"""The committed OpenAPI document: the app's, valid, lint-clean, and saying what a consumer needs.

Every expectation comes from the app's declarations (`describe_routes`, `KNOWN_SCOPES`) and
the document's own content, so a route added or the demo's removed keeps these green.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from fastapi import APIRouter
from openapi_spec_validator import validate

import service.api.main
from contract import document as contract_document
from contract.document import DOCUMENT, REGENERATE, deployed_app
from service.api.openapi import GROUPS_EXTENSION
from service.core.access.declaration import SECURITY_SCHEME_NAME, TOKEN_PATH
from service.core.access.route_scopes import effective_routes
from service.core.errors import PROBLEM_JSON
from tests.support import ROOT

COMMITTED: dict[str, Any] = json.loads(DOCUMENT.read_text())
OPERATIONS = [
    (method.upper(), path, operation) for path, item in COMMITTED["paths"].items() for method, operation in item.items()
]
# Redocly CLI sends no usage data and checks for no update (redocly.yaml says so too).
REDOCLY_ENV = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def test_the_committed_document_is_the_apps(capsys: pytest.CaptureFixture[str]) -> None:
    assert contract_document.main(["--check"]) == 0, capsys.readouterr().err


def test_a_route_changed_without_regenerating_fails_naming_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    router = APIRouter(prefix="/orders")

    @router.get("", operation_id="list_orders")
    async def list_orders() -> list[str]:
        return []

    monkeypatch.setattr(service.api.main, "RESOURCE_ROUTERS", (*service.api.main.RESOURCE_ROUTERS, router))

    assert contract_document.main(["--check"]) == 1
    assert f"run `{REGENERATE}`" in capsys.readouterr().err


def test_the_document_has_no_per_request_prefix() -> None:
    assert "servers" not in COMMITTED
    flows = [scheme["flows"] for scheme in COMMITTED["components"]["securitySchemes"].values()]
    assert [flow["password"]["tokenUrl"] for flow in flows] == [TOKEN_PATH]


def test_the_document_validates() -> None:
    validate(COMMITTED)


def test_the_document_lints_clean_with_redocly() -> None:
    linted = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "redocly"), "lint", str(DOCUMENT)],
        cwd=ROOT,
        env=REDOCLY_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout[-4000:] + linted.stderr[-2000:]
    assert "valid" in linted.stdout + linted.stderr


def test_each_operation_states_its_security_scopes_and_groups() -> None:
    app = deployed_app()
    document = app.openapi()
    offered = document["components"]["securitySchemes"][SECURITY_SCHEME_NAME]["flows"]["password"]["scopes"]
    # The scopes this deployment asks for: the routes' declarations, with cdk.json's route_scopes.
    routes = [route for route in effective_routes(app) if route.path in document["paths"]]
    assert routes
    for route in routes:
        operation = document["paths"][route.path][route.method.lower()]
        expected = [] if route.public else [{SECURITY_SCHEME_NAME: list(route.scopes)}]
        assert operation["security"] == expected, f"{route.method} {route.path}"
        assert set(route.scopes) <= offered.keys()
        if route.groups:
            assert operation[GROUPS_EXTENSION] == list(route.groups)
            assert all(f"`{group}`" in operation["description"] for group in route.groups)
        else:
            assert GROUPS_EXTENSION not in operation


def _schema(content: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = content["schema"]
    ref = schema.get("$ref", "")
    return COMMITTED["components"]["schemas"][ref.rpartition("/")[2]] if ref else schema


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_each_operation_documents_refusals_and_an_example(method: str, path: str, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    # The gateway's throttling, on every operation; its refusals, on every protected one.
    assert "GatewayMessage" in json.dumps(responses["429"])
    if operation["security"]:
        assert {"401", "403"} <= responses.keys()
        assert _schema(responses["401"]["content"]["application/json"])["required"] == ["message"]
    # The app's own errors: RFC 9457 problem details, or RFC 6749 errors where the route is a token endpoint.
    for status in ("413", "500"):
        assert list(responses[status]["content"]) == [PROBLEM_JSON] or "error" in _schema(
            responses[status]["content"]["application/json"]
        ).get("properties", {})
    # A success, with an example of it.
    successes = {status: response for status, response in responses.items() if status.startswith("2")}
    assert successes, f"{method} {path} documents no success"
    for status, response in successes.items():
        for media_type, content in response.get("content", {}).items():
            assert "example" in content or "examples" in content, f"{method} {path} {status} {media_type}: no example"


def test_the_token_endpoint_documents_rfc_6749_errors() -> None:
    token = COMMITTED["paths"][TOKEN_PATH]["post"]["responses"]
    error = _schema(token["400"]["content"]["application/json"])
    assert {"invalid_request", "invalid_grant", "unsupported_grant_type", "invalid_scope"} <= set(
        error["properties"]["error"]["enum"]
    )
    assert {"error", "error_description"} <= set(error["required"])
