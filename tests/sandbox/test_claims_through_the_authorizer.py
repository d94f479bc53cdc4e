"""Real RS256 tokens shaped like each identity provider's, through the template's authorizer to the bundled function.

The tokens are signed by the sandbox's offline issuer (the Firebase emulator's are unsigned,
and a faithful authorizer refuses those, as AWS's does), so they pass the sandbox's JWT
authorizer; the function, run by the runtime client from the synthesized asset, reads their
exact claims back from the gateway's rendering. A probe handler around the service's shows the
event the function was given, so the rendering itself is seen: the `firebase` object as
``map[...]``, a null claim left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sandbox import offline
from service.app import create_app
from service.core.access.claims import flatten_claims
from service.core.identity.local import load_or_create_signing_key, public_jwk
from service.core.settings import Settings
from tests.service.test_event_claims import (
    FIXTURES,
    expected_status,
    token_claims,
    unscoped_get_routes,
    with_fresh_times,
)
from tests.support import load_event
from tests.support_sandbox import (
    OFFLINE_KEY_FILE,
    STACK_TEMPLATE,
    RunningSandbox,
    changed_assembly,
    function_properties,
    running_sandbox,
)

pytestmark = pytest.mark.e2e

WHOAMI = "/v1/users/whoami"


@pytest.fixture(scope="module")
def probe_sandbox(
    sandbox_assembly: Path, offline_services: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    workdir = tmp_path_factory.mktemp("claims")

    def probe_handler(template: dict[str, Any]) -> None:
        function_properties(template)["Handler"] = "sandbox_probe.handler"

    assembly = changed_assembly(sandbox_assembly, workdir / "cdk.out", probe_handler, probe=True)
    with running_sandbox(assembly, workdir, offline_url=offline_services, name="claims") as running:
        yield running


@pytest.fixture(scope="module")
def groups_claim(sandbox_assembly: Path) -> str:
    """The groups claim the template tells the function to read."""
    template = json.loads((sandbox_assembly / STACK_TEMPLATE).read_text())
    claim: str = function_properties(template)["Environment"]["Variables"]["JWT_AUTHORIZATION_GROUPS_ATTR_NAME"]
    return claim


@pytest.fixture(scope="module")
def sign(offline_services: str, offline_services_dir: Path) -> Any:
    """Signs claims with the running offline issuer's key, as its token endpoint would."""
    key = load_or_create_signing_key(offline_services_dir / OFFLINE_KEY_FILE)
    kid = public_jwk(key.public_key())["kid"]

    def signed(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    return signed


def firebase_id_token_claims(*, groups: list[str]) -> dict[str, Any]:
    """A real Firebase ID token's claims (password sign-in, custom claim `groups`), for the offline issuer."""
    return with_fresh_times(
        {
            "groups": groups,
            "iss": "replaced",
            "aud": "replaced",
            "auth_time": 0,
            "user_id": "Kq1dR8vZ3mX0bN7cT5yW2hL4eF62",
            "sub": "Kq1dR8vZ3mX0bN7cT5yW2hL4eF62",
            "iat": 0,
            "exp": 0,
            "email": "ada@example.com",
            "email_verified": True,
            "firebase": {"identities": {"email": ["ada@example.com"]}, "sign_in_provider": "password"},
        },
        issuer=offline.ISSUER,
        audience=offline.AUDIENCE,
    )


def test_a_firebase_id_token_reads_whoami_and_as_an_admin_the_admin_listing(
    probe_sandbox: RunningSandbox, sign: Any
) -> None:
    claims = firebase_id_token_claims(groups=["ADMINS", "USERS"])
    headers = {"authorization": f"Bearer {sign(claims)}"}
    with httpx.Client(base_url=probe_sandbox.base_url, timeout=30) as client:
        whoami = client.get(WHOAMI, headers=headers)
        listing = client.get("/v1/admin/endpoints", headers=headers)
        event = client.get(WHOAMI, params={"probe": "event"}, headers=headers).json()

    assert whoami.status_code == 200, whoami.text
    assert whoami.json() == claims
    assert listing.status_code == 200, listing.text
    assert {"GET /v1/users/whoami", "GET /v1/admin/endpoints"} <= {f"{e['method']} {e['path']}" for e in listing.json()}
    rendered = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert rendered["firebase"] == "map[identities:map[email:[ada@example.com]] sign_in_provider:password]"
    assert rendered["groups"] == "[ADMINS USERS]"
    assert rendered["email_verified"] == "true"
    assert rendered["auth_time"] == str(claims["auth_time"])


@pytest.mark.parametrize("name", FIXTURES)
def test_each_fixtures_claims_through_the_templates_authorizer(
    probe_sandbox: RunningSandbox, sign: Any, groups_claim: str, name: str
) -> None:
    fixture_claims = token_claims(load_event(name))
    claims = with_fresh_times(fixture_claims, issuer=offline.ISSUER, audience=offline.AUDIENCE)
    headers = {"authorization": f"Bearer {sign(claims)}"}
    routes = unscoped_get_routes(create_app(Settings()))
    with httpx.Client(base_url=probe_sandbox.base_url, timeout=30) as client:
        whoami = client.get(WHOAMI, headers=headers)
        event = client.get(WHOAMI, params={"probe": "event"}, headers=headers).json()
        statuses = {route.path: client.get(route.path, headers=headers).status_code for route in routes}

    assert whoami.status_code == 200, whoami.text
    assert whoami.json() == claims
    # The sandbox's own rendering is the service's, null claims left out.
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == flatten_claims(claims)
    assert statuses == {route.path: expected_status(route, claims, groups_claim) for route in routes}
