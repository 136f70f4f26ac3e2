"""The add-in API under /api/v1, one router per area (manager pages get their own later)."""

from __future__ import annotations

from fastapi import APIRouter

from web.api.items import router as items_router
from web.api.lookup import router as lookup_router
from web.api.me import router as me_router
from web.api.notifications import router as notifications_router
from web.api.records import router as records_router

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for area in (lookup_router, items_router, records_router, me_router, notifications_router):
        router.include_router(area)
    return router
