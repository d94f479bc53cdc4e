"""Every route of the service, gathered in one place."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.routes import admin, auth, items, manage, users
from service.core.errors import COMMON_ERROR_RESPONSES

api_router = APIRouter(prefix="/v1", responses=COMMON_ERROR_RESPONSES)
api_router.include_router(manage.router)
api_router.include_router(auth.router)
api_router.include_router(users.router)
api_router.include_router(admin.router)
api_router.include_router(items.router)
