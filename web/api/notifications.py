"""Graph change and lifecycle notifications: the handshake, and the jobs a genuine one queues.

Graph calls these without a user token, so a notification is trusted only
when its ``clientState`` matches the secret stored (hashed) for its
subscription; anything else is answered like a genuine one (202) but acts on
nothing, so a forger learns nothing. Both endpoints take both kinds: Graph
allows ``lifecycleNotificationUrl`` to equal ``notificationUrl``.

- a change notification (mail or calendar) queues an immediate sync of the
  mailbox with the same queueing lock as every other sync: a burst of 50 new
  mails and a meeting update is one waiting job;
- ``missed``: Graph could not deliver some notifications: sync the mailbox;
- ``subscriptionRemoved``: Graph dropped the subscription: sync the mailbox
  now, and queue its replacement (a worker creates it, then syncs again for
  what changed in between: web never calls Graph);
- ``reauthorizationRequired``: queue a renewal, which reauthorizes the
  subscription and extends it (Microsoft: "renewing your subscription also
  reauthorizes"); ignoring it would pause delivery.

A malformed body is refused with 400 naming the field, before anything is
queued. Answers are fast because Graph waits at most a few seconds (10 s for
the handshake) and then retries or drops the subscription. The handshake
echoes ``validationToken`` exactly, as Graph requires, but only as
``text/plain`` (with ``nosniff`` from the security middleware), so a hostile
token is inert text; over-long tokens or ones with control characters are
refused.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from crm_store.subscriptions import notification_target
from web.errors import InvalidInput
from web.problem import field_problem, problem
from web.state import WebState

log = logging.getLogger(__name__)

router = APIRouter(prefix="/graph", tags=["graph"])

MAX_VALIDATION_TOKEN = 1024
MAX_SUBSCRIPTION_ID = 200
LIFECYCLE_EVENTS = ("subscriptionRemoved", "missed", "reauthorizationRequired")

_queue_lock = threading.Lock()


class MalformedNotification(InvalidInput):
    """A notification body Graph would never send: 400 naming the field, not the app's 422."""


@dataclass(frozen=True, slots=True)
class Notice:
    subscription_id: str
    client_state: str | None
    lifecycle_event: str | None


def parse_notifications(payload: Any) -> list[Notice]:
    """The notifications of a changeNotificationCollection; the first bad field raises."""
    if not isinstance(payload, dict):
        raise MalformedNotification("body", "must be a JSON object with a 'value' list")
    items = payload.get("value")
    if not isinstance(items, list):
        raise MalformedNotification("value", "must be a list of notifications")
    notices = []
    for i, item in enumerate(items):
        where = f"value[{i}]"
        if not isinstance(item, dict):
            raise MalformedNotification(where, "must be an object")
        subscription_id = item.get("subscriptionId")
        if (
            not isinstance(subscription_id, str)
            or not 0 < len(subscription_id) <= MAX_SUBSCRIPTION_ID
        ):
            raise MalformedNotification(
                f"{where}.subscriptionId", f"must be a string of 1-{MAX_SUBSCRIPTION_ID} characters"
            )
        client_state = item.get("clientState")
        if client_state is not None and not isinstance(client_state, str):
            raise MalformedNotification(f"{where}.clientState", "must be a string")
        event = item.get("lifecycleEvent")
        if event is not None and not isinstance(event, str):
            raise MalformedNotification(f"{where}.lifecycleEvent", "must be a string")
        notices.append(Notice(subscription_id, client_state, event))
    return notices


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


def _handshake(token: str) -> Response:
    if len(token) > MAX_VALIDATION_TOKEN or any(c < " " or c == "\x7f" for c in token):
        return problem(
            400,
            "validationToken: not a Graph validation token",
            [
                {
                    "field": "validationToken",
                    "message": f"at most {MAX_VALIDATION_TOKEN} characters, no control characters",
                }
            ],
        )
    return PlainTextResponse(token, status_code=200)


@dataclass
class _Work:
    syncs: dict[int, str]
    reauthorize: set[str]
    recreate: set[str]


def _decide(request: Request, notices: list[Notice]) -> _Work:
    """What the genuine notices ask for; forged or unknown ones are logged and dropped."""
    state: WebState = request.app.state.web
    work = _Work({}, set(), set())
    with state.sessions() as session:
        for notice in notices:
            target = notification_target(session, notice.subscription_id, notice.client_state)
            if target is None:
                log.warning(
                    "notification for %s refused: unknown subscription or wrong clientState",
                    notice.subscription_id[:64],
                )
                continue
            event = notice.lifecycle_event
            if event is None:
                work.syncs.setdefault(target.mailbox_id, f"{target.resource_kind} changed")
            elif event == "missed":
                work.syncs[target.mailbox_id] = "notifications missed"
            elif event == "subscriptionRemoved":
                work.syncs[target.mailbox_id] = "subscription removed"
                work.recreate.add(target.subscription_id)
            elif event == "reauthorizationRequired":
                work.reauthorize.add(target.subscription_id)
            else:
                # Graph may add lifecycle events; refusing would only make it retry.
                log.warning("lifecycle event %r of %s ignored", event[:64], target.subscription_id)
    return work


async def _receive(request: Request) -> Response:
    token = request.query_params.get("validationToken")
    if token is not None:
        return _handshake(token)
    try:
        payload = await request.json()
    except ValueError:
        return field_problem(
            400, MalformedNotification("body", "must be a JSON notification collection")
        )
    try:
        notices = parse_notifications(payload)
    except MalformedNotification as exc:
        return field_problem(400, exc)
    # The store read and the queue's inserts block: off the event loop, in one hop.
    await run_in_threadpool(_act, request, notices)
    return Response(status_code=202)


def _act(request: Request, notices: list[Notice]) -> None:
    """Queue what the genuine notices ask for."""
    work = _decide(request, notices)
    if not (work.syncs or work.reauthorize or work.recreate):
        return
    from mailsync.cluster.queue import (
        request_reauthorization,
        request_recreation,
        request_sync,
    )

    queue = _queue(request)
    for mailbox_id, reason in sorted(work.syncs.items()):
        request_sync(queue, mailbox_id, reason=reason)
    for subscription_id in sorted(work.recreate):
        request_recreation(queue, subscription_id)
    for subscription_id in sorted(work.reauthorize):
        request_reauthorization(queue, subscription_id)


@router.post(
    "/notifications",
    summary="Graph change notifications (and their validation handshake)",
    status_code=202,
    response_model=None,
)
async def graph_notifications(request: Request) -> Response:
    return await _receive(request)


@router.post(
    "/lifecycle",
    summary="Graph lifecycle notifications (and their validation handshake)",
    status_code=202,
    response_model=None,
)
async def graph_lifecycle(request: Request) -> Response:
    return await _receive(request)
