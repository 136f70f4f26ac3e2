"""``GET /metrics``: the figures of ``mailsync status`` in Prometheus' text format.

Served without a sign-in, like every Prometheus target; it reveals mailbox
addresses and queue sizes, so expose it on the internal network only (or
block ``/metrics`` at the TLS proxy).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from mailsync.cluster.figures import freshness, prometheus_text, queue_figures
from web.state import WebState

router = APIRouter(tags=["operations"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STALLED_SECONDS = 60.0


@router.get("/metrics", summary="Queue and freshness figures for Prometheus")
def metrics(request: Request) -> PlainTextResponse:
    state: WebState = request.app.state.web
    with state.sessions() as session:
        queue = queue_figures(session, STALLED_SECONDS)
        mailboxes = freshness(session, state.clock())
    return PlainTextResponse(prometheus_text(queue, mailboxes), media_type=CONTENT_TYPE)
