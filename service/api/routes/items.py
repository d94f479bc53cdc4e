"""A demonstration route guarded by an OAuth scope, so the scope machinery has a user."""

# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from service.api.openapi import success_example
from service.core.access.caller import Principal
from service.core.access.declaration import Authenticated

router = APIRouter(prefix="/items", tags=["items"])


class Item(BaseModel):
    id: int
    name: str


DEMO_ITEMS = (Item(id=1, name="first demo item"), Item(id=2, name="second demo item"))


@router.get("", operation_id="list_items", responses=success_example([item.model_dump() for item in DEMO_ITEMS]))
async def list_items(_caller: Annotated[Principal, Authenticated(scopes=["items:read"])]) -> list[Item]:
    """Demonstration items. Requires the `items:read` scope."""
    return list(DEMO_ITEMS)
