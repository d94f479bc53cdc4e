"""The app's own declarations, for tests of a mechanism on whatever routes, scopes and groups the app has.

A team adds routes with its own scopes and groups and deletes the demo's (docs/recipes.md). A
test that needs "a route that asks for a scope" or "a declared scope" takes one from here
instead of naming the demo's, and mints its own callers from the route's declaration
(`caller_of`): any scope, any group, whatever the demo users happen to hold. Where the app
declares no route of a kind (`a_scoped_route()`, `a_token_only_route()`, `a_public_route()`) the
helper gives a throwaway one instead, which `serve_throwaways` adds to the app (the `scoped`
and `throwaways` fixtures in tests/conftest.py, or around an in-process synth), and where it
declares no scope at all `a_declared_scope()` is the throwaway's, declared with them: no test
skips because of the app's content (`tests/test_recipes.py` asserts it on changed copies).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from fastapi import APIRouter, FastAPI

from service.api.main import include_api
from service.core.access.declaration import KNOWN_SCOPES, Authenticated, RouteAccess, describe_routes
from service.core.identity.local import LocalUser


def declared_routes() -> list[RouteAccess]:
    """Every operation of the app's API, as `describe_routes` reads the routes' declarations."""
    app = FastAPI()
    include_api(app)
    return describe_routes(app)


def _scoped_get(route: RouteAccess) -> bool:
    return route.method == "GET" and bool(route.scopes) and "{" not in route.path


def _token_only_get(route: RouteAccess) -> bool:
    protected = not route.public and not route.scopes and not route.groups
    return protected and route.method == "GET" and "{" not in route.path


SCOPED_ROUTES = [route for route in declared_routes() if _scoped_get(route)]
TOKEN_ONLY_ROUTES = [route for route in declared_routes() if _token_only_get(route)]
PUBLIC_ROUTES = [route for route in declared_routes() if route.public]
# Every group some route asks for: a caller holding them all passes every route's group check.
DECLARED_GROUPS: tuple[str, ...] = tuple(sorted({group for route in declared_routes() for group in route.groups}))
# A declared scope, for throwaway routes a test declares itself; None when the app declares none.
SCOPE: str | None = next(iter(KNOWN_SCOPES), None)
# The demo admin's groups (service/core/identity/local.py), for tests that sign in as the demo admin.
DEMO_ADMIN_GROUPS = frozenset({"ADMINS", "USERS"})
# A name no route declares and no user has.
UNDECLARED_SCOPE = "undeclared:scope"
# A group no route asks for.
UNDECLARED_GROUP = "NOT-A-DECLARED-GROUP"

# The route a test declares where the app has no scoped GET route: its own scope and group, so
# it needs what no demo user holds, as a team's route may.
THROWAWAY_SCOPE = "throwaway:read"
THROWAWAY_ROUTE = RouteAccess(
    method="GET",
    path="/v1/throwaway-scoped",
    name="throwaway_scoped",
    public=False,
    scopes=(THROWAWAY_SCOPE,),
    groups=("THROWAWAY",),
)
THROWAWAY_TOKEN_ONLY_ROUTE = RouteAccess(
    method="GET", path="/v1/throwaway-token-only", name="throwaway_token_only", public=False, scopes=(), groups=()
)
THROWAWAY_PUBLIC_ROUTE = RouteAccess(
    method="GET", path="/v1/throwaway-public", name="throwaway_public", public=True, scopes=(), groups=()
)


def a_scoped_route() -> RouteAccess:
    """A GET route without path parameters that asks for a scope: the app's first, else `THROWAWAY_ROUTE`.

    The throwaway is served only where the `scoped` fixture added it to the app (in-process
    apps) or `with_throwaway_route` to a template (the sandbox's gateway).
    """
    return SCOPED_ROUTES[0] if SCOPED_ROUTES else THROWAWAY_ROUTE


def a_token_only_route() -> RouteAccess:
    """A GET route without path parameters that any valid token may call: the app's, else the throwaway."""
    return TOKEN_ONLY_ROUTES[0] if TOKEN_ONLY_ROUTES else THROWAWAY_TOKEN_ONLY_ROUTE


def a_public_route() -> RouteAccess:
    """A route served without a token: the app's first, else the throwaway."""
    return PUBLIC_ROUTES[0] if PUBLIC_ROUTES else THROWAWAY_PUBLIC_ROUTE


def a_declared_scope() -> str:
    """A scope the app declares (KNOWN_SCOPES), else the throwaway route's (declared by `serve_throwaways`)."""
    return SCOPE if SCOPE is not None else THROWAWAY_SCOPE


def app_declares_a_scoped_route() -> bool:
    return bool(SCOPED_ROUTES)


def app_serves_every_kind() -> bool:
    """Whether the app itself has a route of each kind the helpers above give, and a scope."""
    return bool(SCOPED_ROUTES and TOKEN_ONLY_ROUTES and PUBLIC_ROUTES and SCOPE is not None)


def serve_throwaways(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the app lacks a kind of route (or any scope), the throwaway routes join its routers, their scope declared.

    Before an app is built (`create_app`, an in-process synth): it includes the routers then.
    """
    if app_serves_every_kind():
        return
    # Imported here: tests/declared.py is imported by conftest before the app's modules are needed.
    from service.api import main

    monkeypatch.setitem(KNOWN_SCOPES, THROWAWAY_SCOPE, "The throwaway route a test declares")
    monkeypatch.setattr(main, "RESOURCE_ROUTERS", (*main.RESOURCE_ROUTERS, throwaway_router()))


@contextmanager
def throwaways_served() -> Iterator[None]:
    """`serve_throwaways` for a block (a session fixture's synth), undone after it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        serve_throwaways(monkeypatch)
        yield


def throwaway_router() -> APIRouter:
    """The throwaway routes as a router (the scope must be in KNOWN_SCOPES first: `serve_throwaways` sees to it)."""
    router = APIRouter()
    required = Authenticated(scopes=list(THROWAWAY_ROUTE.scopes), groups=list(THROWAWAY_ROUTE.groups))

    # In the decorator: an annotation could not name the local `required` (postponed annotations here).
    @router.get(THROWAWAY_ROUTE.path.removeprefix("/v1"), name=THROWAWAY_ROUTE.name, dependencies=[required])
    async def throwaway_scoped() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        THROWAWAY_TOKEN_ONLY_ROUTE.path.removeprefix("/v1"),
        name=THROWAWAY_TOKEN_ONLY_ROUTE.name,
        dependencies=[Authenticated()],
    )
    async def throwaway_token_only() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(THROWAWAY_PUBLIC_ROUTE.path.removeprefix("/v1"), name=THROWAWAY_PUBLIC_ROUTE.name)
    async def throwaway_public() -> dict[str, str]:
        return {"status": "ok"}

    return router


# The password of every user `caller_of` makes, for a users file (`users_file`).
CALLER_PASSWORD = "caller-password"


@functools.cache
def _caller_hash() -> str:
    # bcrypt's lowest cost: these users exist for one test session.
    return bcrypt.hashpw(CALLER_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


def caller_of(
    route: RouteAccess,
    *,
    username: str = "caller@example.com",
    scopes: tuple[str, ...] | None = None,
    groups: tuple[str, ...] | None = None,
) -> LocalUser:
    """A user the route lets in: its scopes and one of its groups (or `scopes`/`groups` instead: a caller it refuses).

    Its password is `CALLER_PASSWORD`: put it in a users file (`users_file`) for the embedded or
    the sandbox's offline issuer, or issue its tokens directly (`LocalIssuer.issue_tokens`).
    """
    return LocalUser(
        username=username,
        password_hash=_caller_hash(),
        scopes=list(route.scopes if scopes is None else scopes),
        groups=list(route.groups[:1] if groups is None else groups),
    )


def users_file(path: Path, *users: LocalUser) -> Path:
    """A users file (`LOCAL_USERS_FILE`, `make dev USERS_FILE=...`, `make sandbox USERS_FILE=...`) holding `users`."""
    path.write_text(json.dumps({"users": [user.model_dump(exclude_defaults=True) for user in users]}, indent=1))
    return path


def with_throwaway_route(template: dict[str, Any]) -> None:
    """Add `THROWAWAY_ROUTE` to a synthesized template, as the construct derives a scoped route (for the gateway).

    The function does not serve it: the gateway's verdict is what such a test looks at.
    """
    resources = template["Resources"]
    name, protected = next(
        (name, resource)
        for name, resource in resources.items()
        if resource["Type"] == "AWS::ApiGatewayV2::Route" and resource["Properties"].get("AuthorizationType") == "JWT"
    )
    properties = {
        **protected["Properties"],
        "RouteKey": f"{THROWAWAY_ROUTE.method} {THROWAWAY_ROUTE.path}",
        "AuthorizationScopes": list(THROWAWAY_ROUTE.scopes),
    }
    resources[name + "Throwaway"] = {**protected, "Properties": properties}
