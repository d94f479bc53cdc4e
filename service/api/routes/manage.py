# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

from fastapi import APIRouter
from pydantic import BaseModel

from service.api.openapi import success_example

router = APIRouter(prefix="/manage", tags=["manage"])


class Health(BaseModel):
    status: str


@router.get("/hc", operation_id="health_check", responses=success_example({"status": "ok"}))
async def health_check() -> Health:
    """Report that the service is up. Public."""
    return Health(status="ok")
