"""The service grown by generated resources, added the way a team adds one: a router in RESOURCE_ROUTERS.

No `from __future__ import annotations` here: FastAPI reads each generated handler's
annotations as objects, built in the loop.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import pytest
from fastapi import APIRouter
from pydantic import BaseModel, create_model

from service.api import main
from service.core.access.caller import Principal
from service.core.access.declaration import KNOWN_SCOPES, Authenticated
from tests.declared import THROWAWAY_SCOPE, a_declared_scope

GENERATED_PREFIX = "/generated"


def generated_router(count: int) -> APIRouter:
    """`count` operations with a path and a query parameter and a response model each.

    Every third is public, every third needs a declared scope (the app's, else the throwaway's,
    which `grown_service` declares), and the rest need a valid token and a group (which the
    gateway does not see: the app enforces it).
    """
    router = APIRouter(prefix=GENERATED_PREFIX, tags=["generated"])
    scope = a_declared_scope()
    for index in range(count):
        model = create_model(f"Generated{index}", id=(int, ...), name=(str, ...), tag=(str | None, None))
        access: Any = None
        if index % 3 == 1:
            access = Authenticated(scopes=[scope])
        elif index % 3 == 2:
            access = Authenticated(groups=["ADMINS"])
        router.add_api_route(
            f"/r{index}/{{item_id}}",
            _handler(index, model, access),
            methods=["GET"],
            operation_id=f"get_generated_{index}",
            response_model=model,
        )
    return router


def _handler(index: int, model: type[BaseModel], access: Any) -> Any:
    if access is None:

        async def public(item_id: int, tag: str | None = None) -> Any:
            return model(id=item_id, name=f"r{index}", tag=tag)

        return public

    async def protected(item_id: int, caller: Annotated[Principal, access], tag: str | None = None) -> Any:
        return model(id=item_id, name=f"r{index}", tag=tag)

    return protected


@contextmanager
def grown_service(count: int) -> Iterator[None]:
    """While inside, `create_app` builds the service with `count` more operations."""
    with pytest.MonkeyPatch.context() as patch:
        if not KNOWN_SCOPES:
            # An app that declares no scope (its demo route removed): the throwaway's, for the block.
            patch.setitem(KNOWN_SCOPES, THROWAWAY_SCOPE, "The throwaway scope a test declares")
        patch.setattr(main, "RESOURCE_ROUTERS", (*main.RESOURCE_ROUTERS, generated_router(count)))
        yield
