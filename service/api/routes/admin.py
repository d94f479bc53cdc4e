# Annotations are evaluated as the module runs (no postponed annotations): pydantic and FastAPI
# read them at import, and evaluating their text instead costs every cold start (issue 23).

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel

from service.api.openapi import success_example
from service.core.access.caller import Principal
from service.core.access.declaration import Authenticated
from service.core.access.route_scopes import effective_routes

router = APIRouter(prefix="/admin", tags=["admin"])


class Endpoint(BaseModel):
    method: str
    path: str
    name: str
    public: bool
    scopes: list[str]
    groups: list[str]


ENDPOINTS_EXAMPLE = [
    {"method": "GET", "path": "/v1/manage/hc", "name": "health_check", "public": True, "scopes": [], "groups": []},
    {
        "method": "GET",
        "path": "/v1/admin/endpoints",
        "name": "list_endpoints",
        "public": False,
        "scopes": [],
        "groups": ["ADMINS"],
    },
]


@router.get("/endpoints", operation_id="list_endpoints", responses=success_example(ENDPOINTS_EXAMPLE))
async def list_endpoints(
    request: Request, _caller: Annotated[Principal, Authenticated(groups=["ADMINS"])]
) -> list[Endpoint]:
    """Every route of the app with the scopes and groups it requires. Group ADMINS only."""
    return [
        Endpoint(
            method=r.method, path=r.path, name=r.name, public=r.public, scopes=list(r.scopes), groups=list(r.groups)
        )
        for r in effective_routes(request.app)
    ]
