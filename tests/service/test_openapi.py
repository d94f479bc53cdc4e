"""The OpenAPI document carries each route's access, as declared once next to the route."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.api.routes.auth import TokenRequest
from service.core.access.declaration import KNOWN_SCOPES
from tests.declared import declared_routes


def operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = spec["paths"][path][method]
    return op


def test_password_flow_scheme_points_at_the_token_route(client: TestClient) -> None:
    spec = client.get("/v1/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {
        "OAuth2PasswordBearer": {
            "type": "oauth2",
            "flows": {"password": {"tokenUrl": "/v1/auth/token", "scopes": KNOWN_SCOPES}},
        }
    }
    assert "servers" not in spec


def test_each_operation_declares_its_security_and_scopes(client: TestClient) -> None:
    spec = client.get("/v1/openapi.json").json()
    # Public operations say so: an empty requirement list.
    assert operation(spec, "get", "/v1/manage/hc")["security"] == []
    assert operation(spec, "post", "/v1/auth/token")["security"] == []
    assert operation(spec, "get", "/v1/users/whoami")["security"] == [{"OAuth2PasswordBearer": []}]
    assert operation(spec, "get", "/v1/admin/endpoints")["security"] == [{"OAuth2PasswordBearer": []}]
    for route in declared_routes():
        if route.scopes:
            security = operation(spec, route.method.lower(), route.path)["security"]
            assert security == [{"OAuth2PasswordBearer": list(route.scopes)}]


def test_token_route_is_documented_as_a_form(client: TestClient) -> None:
    spec = client.get("/v1/openapi.json").json()
    body = operation(spec, "post", "/v1/auth/token")["requestBody"]["content"]
    assert list(body) == ["application/x-www-form-urlencoded"]
    # Filled in when the document is built (`document_only`): inline, every field of the form's model.
    form = body["application/x-www-form-urlencoded"]["schema"]
    assert "$ref" not in form
    assert set(form["properties"]) == set(TokenRequest.model_fields)


def test_swagger_ui_page_loads_the_spec_from_the_app(client: TestClient) -> None:
    page = client.get("/v1/docs")
    assert page.status_code == 200
    assert "url: '/v1/openapi.json'" in page.text
    assert client.get("/v1/redoc").status_code == 200


def test_token_route_documents_oauth_errors_and_no_validation_problem(client: TestClient) -> None:
    spec = client.get("/v1/openapi.json").json()
    responses = operation(spec, "post", "/v1/auth/token")["responses"]

    oauth_error = {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthErrorBody"}}}
    assert {status for status, response in responses.items() if response.get("content") == oauth_error} == {
        "400",
        "500",
        "502",
        "503",
        "504",
    }
    # A throttling provider's 429, or the gateway's own throttling of the token route.
    assert responses["429"]["content"]["application/json"]["schema"] == {
        "anyOf": [oauth_error["application/json"]["schema"], {"$ref": "#/components/schemas/GatewayMessage"}]
    }
    assert "422" not in responses
    # The body limit is the app's edge's, before any route: problem details, as everywhere.
    assert list(responses["413"]["content"]) == ["application/problem+json"]
    schema = spec["components"]["schemas"]["OAuthErrorBody"]
    assert schema["required"] == ["error", "error_description", "code"]
    assert {"invalid_request", "invalid_grant", "unsupported_grant_type", "invalid_scope"} <= set(
        schema["properties"]["error"]["enum"]
    )


def test_other_operations_keep_problem_details(client: TestClient) -> None:
    spec = client.get("/v1/openapi.json").json()
    responses = operation(spec, "get", "/v1/admin/endpoints")["responses"]

    assert list(responses["422"]["content"]) == ["application/problem+json"]
    assert list(responses["500"]["content"]) == ["application/problem+json"]
