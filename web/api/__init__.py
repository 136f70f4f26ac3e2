"""The add-in API under /api/v1, one router per area (manager pages get their own later)."""

from __future__ import annotations

from fastapi import APIRouter

from web.api import items, lookup, me, records

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for area in (lookup, items, records, me):
        router.include_router(area.router)
    return router
