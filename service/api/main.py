"""Every route of the service, gathered in one place: one router per resource, under /v1."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from service.api.routes import admin, auth, manage, users
from service.core.errors import COMMON_ERROR_RESPONSES, EDGE_ERROR_RESPONSES

# isort: split
# The demo's scoped route: docs/recipes.md, "Remove a demo route", takes it out.
from service.api.routes import items

API_PREFIX = "/v1"
# One router a line, so adding yours and removing the demo's are separate one-line changes.
# FastAPI tries them in this order on every request, each one passed costing that request a few
# µs (docs/performance.md): the routes called most come first, a resource every client calls,
# then the health check that probes call, the token endpoint (once per token) last.
RESOURCE_ROUTERS: tuple[APIRouter, ...] = (
    users.router,
    manage.router,
    items.router,
    admin.router,
    auth.router,
)


def include_api(app: FastAPI) -> None:
    """Each resource router, included in the app under the API prefix.

    Directly in the app rather than through one `/v1` router that includes them all: FastAPI
    walks included routers on every request, and a second level of inclusion measured about
    20 µs more per protected request in Lambda (`make bench`).
    """
    for router in RESOURCE_ROUTERS:
        # The token endpoint reads its own form and answers in OAuth 2.0's errors, never a 422.
        responses = EDGE_ERROR_RESPONSES if router is auth.router else COMMON_ERROR_RESPONSES
        app.include_router(router, prefix=API_PREFIX, responses=responses)
