"""The pre hook's events have the shape of the captured payload 2.0 events the service is tested with."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import pytest

from hooks.gateway_events import Gateway, Route, authorizer_context, token_payload
from sandbox.claim_text import gateway_claims
from tests.support import load_event


def hook_event_like(captured: dict[str, Any], **options: Any) -> dict[str, Any]:
    method, path = captured["routeKey"].split(" ", 1)
    gateway = Gateway(stage=captured["requestContext"]["stage"], domain_name=captured["requestContext"]["domainName"])
    return gateway.event(Route(method=method, path=path), **options)


def shape(event: dict[str, Any]) -> tuple[list[str], list[str], list[str], list[str]]:
    return (
        sorted(event),
        sorted(event["requestContext"]),
        sorted(event["requestContext"]["http"]),
        sorted(event["headers"]),
    )


@pytest.mark.parametrize("fixture", ["health_named_stage.json", "docs_named_stage.json"])
def test_a_public_routes_event_has_the_captured_shape(fixture: str) -> None:
    captured = load_event(fixture)
    event = hook_event_like(captured)

    assert shape(event) == shape(captured)
    assert (event["rawPath"], event["routeKey"]) == (captured["rawPath"], captured["routeKey"])


def test_the_token_routes_event_carries_its_form_as_the_gateway_does() -> None:
    captured = load_event("token_password_grant.json")
    form = "grant_type=password&username=someone%40example.com&password=secret"

    event = hook_event_like(captured, headers={"content-type": "application/x-www-form-urlencoded"}, body=form)

    assert shape(event) == shape(captured)
    assert event["isBase64Encoded"] is captured["isBase64Encoded"] is True
    assert parse_qs(base64.b64decode(event["body"]).decode())["username"] == ["someone@example.com"]
    assert event["headers"]["content-length"] == str(len(form))


def test_a_protected_routes_event_carries_the_authorizers_verdict_as_captured() -> None:
    captured = load_event("whoami_named_stage.json")
    token = captured["headers"]["authorization"].removeprefix("Bearer ")
    claims = token_payload(token)

    event = hook_event_like(
        captured,
        headers={"authorization": f"Bearer {token}"},
        authorizer=authorizer_context(
            claims, scoped=captured["requestContext"]["authorizer"]["jwt"]["scopes"] is not None
        ),
    )

    assert shape(event) == shape(captured)
    assert event["requestContext"]["authorizer"] == captured["requestContext"]["authorizer"]
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == gateway_claims(claims)


def test_on_a_route_with_scopes_the_tokens_whole_scope_list_is_passed() -> None:
    claims = {"sub": "someone", "scope": "items:read items:write"}

    assert authorizer_context(claims, scoped=True)["jwt"]["scopes"] == ["items:read", "items:write"]
    assert authorizer_context({"sub": "someone", "scp": ["items:read"]}, scoped=True)["jwt"]["scopes"] == ["items:read"]
    assert authorizer_context(claims, scoped=False)["jwt"]["scopes"] is None
