"""A route's access, declared once, next to the route.

    @router.get("/endpoints")
    async def list_endpoints(caller: Annotated[Principal, Authenticated(groups=["ADMINS"])]): ...

`Authenticated(scopes=..., groups=...)` is FastAPI's `Security(...)` with the scopes, so the
OpenAPI document carries the scopes; the CDK construct reads that document to give the
gateway route its JWT authorizer and `authorization_scopes`, and `describe_routes` reads the
same declaration for the admin listing. A route without it is public.

The requirement is itself the OAuth2 password scheme of the OpenAPI document (one scheme
name for every route), rather than a dependency on a scheme and on a step that reads the
caller. FastAPI solves it like any dependency; on the service's own routers `AccessRoute`
runs it before FastAPI's dependency solving instead (see there why).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from fastapi import FastAPI, Request, Response, Security, params
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from service.core.errors import AppError
from service.core.security import KNOWN_SCOPES, SECURITY_SCHEME_NAME, TOKEN_PATH, Principal, authenticate_caller

# API Gateway accepts at most this many authorization scopes on a route.
MAX_ROUTE_SCOPES = 10


class RequireAccess(OAuth2PasswordBearer):
    """Dependency behind `Authenticated`: the gateway's step, then one of the route's groups."""

    def __init__(self, *, scopes: Sequence[str], groups: Sequence[str]) -> None:
        unknown = set(scopes) - KNOWN_SCOPES.keys()
        if unknown:
            raise ValueError(f"undeclared scopes {sorted(unknown)}: add them to KNOWN_SCOPES")
        if len(scopes) > MAX_ROUTE_SCOPES:
            raise ValueError(f"API Gateway allows at most {MAX_ROUTE_SCOPES} scopes on a route")
        # The token itself is read by the gateway step, which, like API Gateway, also accepts a bare token.
        super().__init__(tokenUrl=TOKEN_PATH, scopes=KNOWN_SCOPES, scheme_name=SECURITY_SCHEME_NAME, auto_error=False)
        self.scopes = tuple(scopes)
        self.groups = tuple(groups)

    async def __call__(  # type: ignore[override]
        self, request: Request, security_scopes: SecurityScopes
    ) -> Principal:
        return await self.authorize(request, security_scopes.scopes)

    async def authorize(self, request: Request, required_scopes: Sequence[str]) -> Principal:
        caller = await authenticate_caller(request, required_scopes)
        if self.groups and caller.groups.isdisjoint(self.groups):
            raise AppError(
                f"This operation requires membership in one of: {', '.join(self.groups)}.",
                status_code=403,
                code="missing_group",
            )
        return caller


def Authenticated(*, scopes: Sequence[str] = (), groups: Sequence[str] = ()) -> Any:  # noqa: N802 - reads like Depends
    """Any valid token; with `scopes`, one of them (the gateway's rule); with `groups`, one of them."""
    return Security(RequireAccess(scopes=scopes, groups=groups), scopes=list(scopes))


def security_scheme() -> dict[str, Any]:
    """The OAuth2 password scheme as FastAPI renders it into `components.securitySchemes`."""
    scheme: dict[str, Any] = jsonable_encoder(
        RequireAccess(scopes=(), groups=()).model, by_alias=True, exclude_none=True
    )
    return scheme


# Where `AccessRoute` leaves the caller for the endpoint, in the request's ASGI scope.
_CALLER_SCOPE_KEY = "service.caller"
# The parameter through which FastAPI hands the rewritten endpoint its request.
_REQUEST_PARAMETER = "_access_request"


@dataclass(frozen=True)
class _LiftedAccess:
    parameter: str
    requirement: RequireAccess


def _declared_access(parameter: inspect.Parameter) -> RequireAccess | None:
    declarations = [parameter.default]
    if get_origin(parameter.annotation) is Annotated:
        declarations += get_args(parameter.annotation)[1:]
    for declared in declarations:
        if isinstance(declared, params.Security) and isinstance(declared.dependency, RequireAccess):
            return declared.dependency
    return None


def _liftable_access(endpoint: Callable[..., Any]) -> tuple[inspect.Signature, _LiftedAccess] | None:
    """The endpoint's one `Authenticated(...)` parameter, where `AccessRoute` can take it over.

    Anything else stays with FastAPI's dependency solving, which enforces it just the same:
    a sync endpoint (FastAPI runs it in a thread), `*args`/`**kwargs`, two such parameters,
    or a requirement inside another dependency.
    """
    if not inspect.iscoroutinefunction(endpoint):
        return None
    try:
        signature = inspect.signature(endpoint, eval_str=True)
    except NameError:
        return None
    found = [(p.name, r) for p in signature.parameters.values() if (r := _declared_access(p)) is not None]
    variadic = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values())
    if len(found) != 1 or variadic or _REQUEST_PARAMETER in signature.parameters:
        return None
    return signature, _LiftedAccess(*found[0])


def _lift_access(endpoint: Callable[..., Any]) -> tuple[Callable[..., Any], _LiftedAccess] | None:
    """`endpoint` without its caller parameter, which it takes from the request scope instead."""
    lifted_before: _LiftedAccess | None = getattr(endpoint, "lifted_access", None)
    if lifted_before is not None:
        # Already lifted (a route copied from another router, as `include_api` does).
        return endpoint, lifted_before
    liftable = _liftable_access(endpoint)
    if liftable is None:
        return None
    signature, lifted = liftable
    kept = [p for p in signature.parameters.values() if p.name != lifted.parameter]
    # FastAPI passes the request to one parameter only: the endpoint's own, if it has one.
    own = next((p.name for p in kept if isinstance(p.annotation, type) and issubclass(p.annotation, Request)), None)
    if own is None:
        kept.append(inspect.Parameter(_REQUEST_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=Request))
    request_parameter = own or _REQUEST_PARAMETER

    @functools.wraps(endpoint)
    async def with_caller(**values: Any) -> Any:
        request: Request = values[request_parameter] if own else values.pop(request_parameter)
        values[lifted.parameter] = request.scope[_CALLER_SCOPE_KEY]
        return await endpoint(**values)

    # FastAPI reads the signature (which stops `inspect` at the wrapper) to know what to pass.
    with_caller.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    with_caller.lifted_access = lifted  # type: ignore[attr-defined]
    return with_caller, lifted


class AccessRoute(APIRoute):
    """A FastAPI route that runs the access requirement of its endpoint itself, first.

    Solving a dependency costs FastAPI about 10 µs per request whatever the dependency does,
    about as much as everything else whoami does in Lambda beyond routing. So where an
    endpoint declares its caller as `caller: Annotated[Principal, Authenticated(...)]`, this
    route class hands FastAPI the endpoint without that parameter, runs the same
    `RequireAccess.authorize` before FastAPI reads the body or solves anything, and passes
    the caller on. The declaration is still the one place: the route's OpenAPI `security`
    is written from it, and `describe_routes` reads it. Like the gateway, it refuses a
    caller before looking at the request's parameters or body. A requirement it cannot
    take over stays a dependency, enforced by FastAPI.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        lifted = _lift_access(endpoint)
        self.lifted_access = lifted[1] if lifted else None
        if lifted is not None:
            endpoint, access = lifted
            security = {"security": [{SECURITY_SCHEME_NAME: list(access.requirement.scopes)}]}
            # The declaration wins over any `security` in `openapi_extra`: the document states what runs.
            kwargs["openapi_extra"] = {**(kwargs.get("openapi_extra") or {}), **security}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.lifted_access is None:
            return handler
        requirement = self.lifted_access.requirement

        async def authorized(request: Request) -> Response:
            request.scope[_CALLER_SCOPE_KEY] = await requirement.authorize(request, requirement.scopes)
            return await handler(request)

        return authorized


@dataclass(frozen=True)
class RouteAccess:
    method: str
    path: str
    name: str
    public: bool
    scopes: tuple[str, ...]
    groups: tuple[str, ...]


def _requirements(dependant: Dependant) -> Iterator[RequireAccess]:
    if isinstance(dependant.call, RequireAccess):
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _requirements(sub)


def describe_routes(app: FastAPI) -> list[RouteAccess]:
    """Every operation the app serves, with the access its route declares."""
    described = []
    # FastAPI keeps included routers lazily; `iter_route_contexts` yields each route with
    # its effective path and dependencies (router-level ones included).
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not isinstance(original, APIRoute):
            continue
        requirements = list(_requirements(route.dependant))
        if isinstance(original, AccessRoute) and original.lifted_access is not None:
            requirements.append(original.lifted_access.requirement)
        scopes = tuple(dict.fromkeys(s for r in requirements for s in r.scopes))
        groups = tuple(dict.fromkeys(g for r in requirements for g in r.groups))
        for method in sorted((route.methods or set()) - {"HEAD"}):
            described.append(
                RouteAccess(
                    method=method,
                    path=str(route.path),
                    name=str(route.name),
                    public=not requirements,
                    scopes=scopes,
                    groups=groups,
                )
            )
    return described
