from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.api.deps import CurrentUser

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/whoami", operation_id="whoami")
async def whoami(caller: CurrentUser) -> dict[str, Any]:
    """The caller's token claims, with the gateway's string flattening undone."""
    return caller.claims
