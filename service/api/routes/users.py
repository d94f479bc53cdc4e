# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

from typing import Any

from fastapi import APIRouter

from service.api.deps import CurrentUser

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/whoami", operation_id="whoami")
async def whoami(caller: CurrentUser) -> dict[str, Any]:
    """The caller's token claims, with the gateway's string flattening undone."""
    return caller.claims
