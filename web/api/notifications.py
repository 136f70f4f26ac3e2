"""Graph change notifications: the validation handshake, and a sync queued per genuine one.

Graph calls this without a user token, so a notification is trusted only when
its ``clientState`` matches the secret stored (hashed) for its subscription.
A genuine notification queues an immediate sync of the mailbox with the same
queueing lock as every other sync: a burst of 50 new mails is one waiting job.
The sync itself reads the changes through delta; the notification's content
is never stored. Answers are fast because Graph waits at most a few seconds
(10 s for the handshake) and then retries or drops the subscription.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import Engine

from crm_store.subscriptions import mailbox_for_notification
from web.state import WebState

log = logging.getLogger(__name__)

router = APIRouter(prefix="/graph", tags=["graph"])

_queue_lock = threading.Lock()


def _queue(request: Request) -> Any:
    """The cluster's job queue, opened on first use (only cluster mode has subscriptions)."""
    from mailsync.cluster.queue import client_app

    with _queue_lock:
        found = getattr(request.app.state, "sync_queue", None)
        if found is None:
            state: WebState = request.app.state.web
            bind = state.sessions.kw["bind"]
            assert isinstance(bind, Engine)
            found = client_app(bind.url.render_as_string(hide_password=False))
            request.app.state.sync_queue = found
        return found


@router.post(
    "/notifications",
    summary="Graph change notifications (and their validation handshake)",
    status_code=202,
    response_model=None,
)
async def graph_notifications(request: Request) -> Response:
    token = request.query_params.get("validationToken")
    if token is not None:
        return PlainTextResponse(token, status_code=200)
    try:
        payload = await request.json()
    except ValueError:
        return Response(status_code=400)
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return Response(status_code=400)
    state: WebState = request.app.state.web
    genuine: set[int] = set()
    with state.sessions() as session:
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("subscriptionId"), str):
                continue
            client_state = item.get("clientState")
            mailbox_id = mailbox_for_notification(
                session,
                item["subscriptionId"],
                client_state if isinstance(client_state, str) else None,
            )
            if mailbox_id is None:
                log.warning(
                    "notification for %s refused: unknown subscription or wrong clientState",
                    item["subscriptionId"][:64],
                )
                continue
            genuine.add(mailbox_id)
    if genuine:
        from mailsync.cluster.queue import request_sync

        queue = _queue(request)
        for mailbox_id in sorted(genuine):
            request_sync(queue, mailbox_id, reason="change notification")
    return Response(status_code=202)
