"""At most N API requests work at once; the others wait instead of exhausting the pool."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from web.middleware import AdmissionMiddleware


def test_api_requests_beyond_the_limit_wait_their_turn() -> None:
    # GIVEN an app that records how many requests are inside it at once
    inside = 0
    most = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.01)
        inside -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limited = AdmissionMiddleware(app, limit=3, prefix="/api/")

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=limited)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answers = await asyncio.gather(*(client.get("/api/v1/x") for _ in range(20)))
            api_most = most
            await asyncio.gather(*(client.get("/healthz") for _ in range(20)))
        return [r.status_code for r in answers] + [api_most, most]

    # WHEN 20 API requests arrive together, then 20 health checks
    *codes, api_most, overall_most = asyncio.run(run())
    # THEN all are answered, never more than 3 API requests at once, health is not queued
    assert codes == [200] * 20
    assert api_most == 3
    assert overall_most > 3
