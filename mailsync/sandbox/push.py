"""Graph change notifications in the sandbox: ``/subscriptions`` and the POSTs they cause.

Behaves like Graph where mailsync depends on it:

- resources ``users/{id}/messages`` (or one mail folder's messages) and
  ``users/{id}/events``; a message change notifies the messages
  subscriptions of its mailbox, a meeting change the events subscriptions;
- creating a subscription first validates ``notificationUrl`` and, when
  given, ``lifecycleNotificationUrl`` — a POST with ``?validationToken=…``
  that must be answered 200 with the token as text/plain within 10 seconds —
  and fails with 400 otherwise;
- expiry is capped at 10,080 minutes and ``clientState`` at 128 characters;
  PATCH renews (and reauthorizes), ``POST /subscriptions/{id}/reauthorize``
  reauthorizes without extending, DELETE removes; an unknown id is 404 for
  all of them;
- every change POSTs ``{"value": [...]}`` with the subscription's
  ``clientState`` to ``notificationUrl``;
- lifecycle notifications (``subscriptionRemoved``, ``missed``,
  ``reauthorizationRequired``) go to ``lifecycleNotificationUrl`` when a test
  asks for one (``send_lifecycle``); ``subscriptionRemoved`` removes the
  subscription first, ``reauthorizationRequired`` marks it until it is
  reauthorized or renewed.

Notifications go to loopback addresses only (the sandbox never reaches out),
from one sender thread so a slow receiver never stalls the world's lock.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import queue
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from mailsync.sandbox.calendarplan import is_event_ref
from mailsync.sandbox.graphapi import GraphResponse, graph_error
from mailsync.sandbox.world import SandboxError, World

log = logging.getLogger(__name__)

MAX_MINUTES = 10_080
MAX_CLIENT_STATE = 128
VALIDATION_TIMEOUT_SECONDS = 10.0
_RESOURCE = re.compile(
    r"^/?users/([^/]+)/(?:(?:mailFolders(?:\('[^']+'\)|/[^/]+)/)?(messages)|(events))$", re.I
)
LIFECYCLE_EVENTS = ("subscriptionRemoved", "missed", "reauthorizationRequired")

Outgoing = Callable[[], None]


@dataclass
class _Subscription:
    id: str
    mailbox: int
    address: str
    resource: str
    kind: str  # "messages" or "events"
    change_type: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires: datetime
    needs_reauthorization: bool = False

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "changeType": self.change_type,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": _iso(self.expires),
            "clientState": self.client_state,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse_time(value: str) -> datetime:
    """Graph's 7-digit fractions and trailing Z; a zone-less time is UTC."""
    text = value.strip().removesuffix("Z")
    head, _, fraction = text.partition(".")
    moment = datetime.fromisoformat(head + (f".{fraction[:6]}" if fraction else ""))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class SubscriptionService:
    def __init__(self, world: World, tenant: str) -> None:
        self._world = world
        self._tenant = tenant
        self._lock = threading.Lock()
        self._subscriptions: dict[str, _Subscription] = {}
        self._outbox: queue.Queue[Outgoing | None] = queue.Queue()
        self._http = httpx.Client(timeout=VALIDATION_TIMEOUT_SECONDS, follow_redirects=False)
        self.counters: Counter[str] = Counter()
        self._sender = threading.Thread(target=self._send_loop, name="sandbox-push", daemon=True)
        self._sender.start()
        world.listeners.append(self._changed)

    def close(self) -> None:
        self._outbox.put(None)
        self._sender.join(timeout=5)
        self._http.close()

    # ---- Graph /subscriptions ---------------------------------------------------------

    def handle(self, method: str, path: str, body: bytes) -> GraphResponse:
        parts = [p for p in path.split("/") if p]
        try:
            if parts == ["subscriptions"] and method == "POST":
                return self._create(json.loads(body or b"{}"))
            if parts == ["subscriptions"] and method == "GET":
                with self._lock:
                    return GraphResponse(
                        200, {"value": [s.json() for s in self._subscriptions.values()]}
                    )
            if len(parts) == 2 and parts[0] == "subscriptions":
                return self._one(method, parts[1], json.loads(body or b"{}"))
            if len(parts) == 3 and parts[0] == "subscriptions" and parts[2] == "reauthorize":
                if method != "POST":
                    return graph_error(405, "MethodNotAllowed", f"{method} is not supported here")
                return self._reauthorize(parts[1])
        except (ValueError, KeyError, TypeError) as exc:
            return graph_error(400, "InvalidRequest", f"Invalid subscription request: {exc}")
        except SandboxError as exc:
            return graph_error(exc.status, exc.code, exc.message)
        return graph_error(405, "MethodNotAllowed", f"{method} {path} is not supported")

    def _expiry(self, value: str) -> datetime:
        expires = _parse_time(value)
        now = datetime.now(UTC)
        if expires <= now or expires > now + timedelta(minutes=MAX_MINUTES):
            raise SandboxError(
                400,
                "InvalidRequest",
                f"Subscription expiration can only be 0-{MAX_MINUTES} minutes in the future.",
            )
        return expires

    def _create(self, data: dict[str, Any]) -> GraphResponse:
        resource = str(data["resource"])
        match = _RESOURCE.match(resource)
        if match is None:
            raise SandboxError(400, "InvalidRequest", f"Unsupported resource {resource!r}")
        mailbox = self._world.mailbox_index(unquote(match.group(1)))
        url = str(data["notificationUrl"])
        lifecycle = data.get("lifecycleNotificationUrl")
        urls = [url] if lifecycle is None else [url, str(lifecycle)]
        if not all(_loopback_url(u) for u in urls):
            raise SandboxError(
                400, "InvalidRequest", "The sandbox only notifies loopback notification URLs."
            )
        client_state = data.get("clientState")
        if client_state is not None and (
            not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE
        ):
            raise SandboxError(
                400, "InvalidRequest", f"clientState is at most {MAX_CLIENT_STATE} characters."
            )
        expires = self._expiry(str(data["expirationDateTime"]))
        for target in dict.fromkeys(urls):
            if not self._validate(target):
                self.counters["validation_failed"] += 1
                raise SandboxError(
                    400,
                    "ValidationError",
                    "Subscription validation request failed. Notification endpoint must "
                    f"respond with 200 OK to validation request ({target}).",
                )
        subscription = _Subscription(
            id=str(uuid.uuid4()),
            mailbox=mailbox,
            address=self._world.mailbox_address(mailbox),
            resource=resource,
            kind="events" if match.group(3) else "messages",
            change_type=str(data.get("changeType", "created")),
            notification_url=url,
            lifecycle_url=None if lifecycle is None else str(lifecycle),
            client_state=client_state,
            expires=expires,
        )
        with self._lock:
            self._subscriptions[subscription.id] = subscription
        self.counters["created"] += 1
        return GraphResponse(201, subscription.json())

    def _live(self, subscription_id: str) -> _Subscription:
        """The subscription (caller holds the lock); expired or unknown is 404, as in Graph."""
        found = self._subscriptions.get(subscription_id)
        if found is None or found.expires <= datetime.now(UTC):
            self._subscriptions.pop(subscription_id, None)
            raise SandboxError(
                404, "ResourceNotFound", f"The object was not found: {subscription_id}"
            )
        return found

    def _reauthorize(self, subscription_id: str) -> GraphResponse:
        with self._lock:
            found = self._live(subscription_id)
            found.needs_reauthorization = False
        self.counters["reauthorized"] += 1
        return GraphResponse(204, None)

    def _one(self, method: str, subscription_id: str, data: dict[str, Any]) -> GraphResponse:
        with self._lock:
            found = self._live(subscription_id)
            if method == "GET":
                return GraphResponse(200, found.json())
            if method == "DELETE":
                del self._subscriptions[subscription_id]
                return GraphResponse(204, None)
            if method == "PATCH":
                found.expires = self._expiry(str(data["expirationDateTime"]))
                self.counters["renewed"] += 1
                if found.needs_reauthorization:
                    # Renewing reauthorizes too (Graph's lifecycle docs).
                    found.needs_reauthorization = False
                    self.counters["reauthorized"] += 1
                return GraphResponse(200, found.json())
        return graph_error(405, "MethodNotAllowed", f"{method} is not supported here")

    def _validate(self, url: str) -> bool:
        token = f"Validation: {uuid.uuid4()}"
        try:
            response = self._http.post(
                url,
                params={"validationToken": token},
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            log.info("validation of %s failed: %s", url, exc)
            return False
        return response.status_code == 200 and response.text == token

    # ---- notifications ----------------------------------------------------------------

    def _changed(self, mailbox: int, ref: int, folder: str | None) -> None:
        """World listener (called under the world's lock): queue, never send here."""
        item_id = self._world.ids.encode(mailbox, ref)
        if is_event_ref(ref):
            kind, change_type = "events", "deleted" if folder is None else "updated"
        else:
            kind, change_type = "messages", "deleted" if folder is None else "created"
        self._outbox.put(lambda: self._fan_out(mailbox, kind, item_id, change_type))

    def _send_loop(self) -> None:
        while True:
            outgoing = self._outbox.get()
            if outgoing is None:
                return
            outgoing()

    def _fan_out(self, mailbox: int, kind: str, item_id: str, change_type: str) -> None:
        with self._lock:
            targets = [
                s
                for s in self._subscriptions.values()
                if s.mailbox == mailbox and s.kind == kind and s.expires > datetime.now(UTC)
            ]
        for subscription in targets:
            self._notify(subscription, item_id, change_type)

    def _notify(self, subscription: _Subscription, item_id: str, change_type: str) -> None:
        address = quote(subscription.address, safe="@")
        odata_type, segment = (
            ("#Microsoft.Graph.Event", "Events")
            if subscription.kind == "events"
            else ("#Microsoft.Graph.Message", "Messages")
        )
        payload = {
            "value": [
                {
                    "subscriptionId": subscription.id,
                    "subscriptionExpirationDateTime": _iso(subscription.expires),
                    "changeType": change_type,
                    "resource": f"Users/{address}/{segment}/{item_id}",
                    "resourceData": {
                        "@odata.type": odata_type,
                        "@odata.id": f"Users/{address}/{segment}/{item_id}",
                        "id": item_id,
                    },
                    "clientState": subscription.client_state,
                    "tenantId": self._tenant,
                }
            ]
        }
        self._post(subscription.notification_url, payload, "notified")

    def _post(self, url: str, payload: dict[str, Any], counter: str) -> None:
        try:
            response = self._http.post(url, json=payload)
        except httpx.HTTPError as exc:
            self.counters[f"{counter}_failed"] += 1
            log.info("notification to %s failed: %s", url, exc)
            return
        self.counters[counter if response.status_code < 300 else f"{counter}_refused"] += 1

    # ---- lifecycle notifications (a test hook: Graph sends them on its own) -----------

    def send_lifecycle(self, subscription_id: str, event: str) -> None:
        """Queue one lifecycle notification for the subscription, as Graph would send it.

        ``subscriptionRemoved`` removes the subscription before it is sent (a
        PATCH then answers 404); ``reauthorizationRequired`` marks it until a
        reauthorize or a renewal.
        """
        if event not in LIFECYCLE_EVENTS:
            raise SandboxError(
                400, "InvalidRequest", f"lifecycle event must be one of {LIFECYCLE_EVENTS}"
            )
        with self._lock:
            found = self._live(subscription_id)
            if found.lifecycle_url is None:
                raise SandboxError(
                    400, "InvalidRequest", "the subscription has no lifecycleNotificationUrl"
                )
            if event == "subscriptionRemoved":
                del self._subscriptions[subscription_id]
            elif event == "reauthorizationRequired":
                found.needs_reauthorization = True
        payload = {
            "value": [
                {
                    "subscriptionId": found.id,
                    "subscriptionExpirationDateTime": _iso(found.expires),
                    "tenantId": self._tenant,
                    "clientState": found.client_state,
                    "lifecycleEvent": event,
                }
            ]
        }
        url = found.lifecycle_url
        self._outbox.put(lambda: self._post(url, payload, f"lifecycle_{event}"))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            subscriptions = [
                {**s.json(), "needsReauthorization": s.needs_reauthorization}
                for s in self._subscriptions.values()
            ]
        return {"subscriptions": subscriptions, "counters": dict(self.counters)}
