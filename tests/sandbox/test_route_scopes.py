"""The sandbox serving a template synthesized with `route_scopes`: the gateway and the function enforce and show it.

The override is on a route the app declares with a scope (tests/declared.py), replaced by a
scope only the context declares (`known_scopes`), as an operator tightens production. Tokens
are signed by the offline issuer's key, as its token endpoint signs them, with the scopes an
identity provider would grant.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sandbox import offline
from sandbox.synth import sandbox_context, synthesize
from service.core.access.declaration import SECURITY_SCHEME_NAME
from service.core.access.route_scopes import route_key
from service.core.identity.local import load_or_create_signing_key, public_jwk
from tests.declared import DECLARED_GROUPS
from tests.route_scopes import STRONGER_SCOPE, route_scopes_context, route_scopes_overrides, tightened_route
from tests.support_sandbox import OFFLINE_KEY_FILE, RunningSandbox, running_sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def overridden(
    offline_services: str, offline_services_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """`make sandbox CONTEXT=...` with the overrides: synthesized by the pinned CLI, then served."""
    workdir = tmp_path_factory.mktemp("route-scopes")
    synthesize(sandbox_context(offline_url=offline_services, given=route_scopes_context()), outdir=workdir / "cdk.out")
    with running_sandbox(workdir / "cdk.out", workdir, offline_url=offline_services, name="route-scopes") as running:
        yield running


@pytest.fixture(scope="module")
def token(offline_services_dir: Path) -> Any:
    """A token from the offline issuer granting `scopes` (and the demo admin's groups)."""
    key = load_or_create_signing_key(offline_services_dir / OFFLINE_KEY_FILE)
    kid = public_jwk(key.public_key())["kid"]

    def signed(*scopes: str) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": offline.ISSUER,
            "aud": offline.AUDIENCE,
            "sub": "operator@example.com",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "scope": " ".join(scopes),
            # The demo admin's groups and every group a route asks for: each route's group check lets it in.
            "groups": sorted({"ADMINS", "USERS", *DECLARED_GROUPS}),
        }
        return {"authorization": f"Bearer {jwt.encode(claims, key, algorithm='RS256', headers={'kid': kid})}"}

    return signed


def test_a_token_without_the_new_scope_gets_the_gateways_403_and_one_with_it_200(
    overridden: RunningSandbox, token: Any
) -> None:
    route = tightened_route()
    with httpx.Client(base_url=overridden.base_url, timeout=30) as client:
        declared_scopes_only = client.get(route.path, headers=token(*route.scopes))
        with_the_new_scope = client.get(route.path, headers=token(STRONGER_SCOPE))

    assert (declared_scopes_only.status_code, declared_scopes_only.json()) == (403, {"message": "Forbidden"})
    # The gateway's own refusal: the function never ran for it.
    assert declared_scopes_only.headers.get("x-content-type-options") is None
    assert with_the_new_scope.status_code == 200, with_the_new_scope.text


def test_the_admin_listing_and_openapi_json_show_the_overrides(overridden: RunningSandbox, token: Any) -> None:
    overrides = route_scopes_overrides()
    with httpx.Client(base_url=overridden.base_url, timeout=30) as client:
        listing = client.get("/v1/admin/endpoints", headers=token())
        document = client.get("/v1/openapi.json").json()

    assert listing.status_code == 200, listing.text
    listed = {f"{e['method']} {e['path']}": e["scopes"] for e in listing.json()}
    documented = {
        route_key(method, path): operation["security"][0][SECURITY_SCHEME_NAME]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    for key, scopes in overrides.items():
        assert listed[key] == scopes
        assert documented[key] == scopes
