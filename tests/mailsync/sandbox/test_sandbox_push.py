"""The sandbox's Graph subscriptions: events vs messages, both handshakes, lifecycle events.

A small HTTP receiver on loopback plays the subscriber: it answers validation
requests (or refuses them on one path) and records every notification.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mailsync.sandbox import SandboxHandle
from mailsync.sandbox.runner import SandboxAdminError


class Receiver:
    def __init__(self, refuse_path: str | None = None) -> None:
        self.refuse_path = refuse_path
        self.validations: list[str] = []
        self.notifications: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.base_url = ""

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.lock:
                if condition():
                    return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting until {what}: {self.notifications}")


@contextmanager
def receiving(refuse_path: str | None = None) -> Iterator[Receiver]:
    receiver = Receiver(refuse_path)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            token = parse_qs(parts.query).get("validationToken")
            if token is not None:
                with receiver.lock:
                    receiver.validations.append(parts.path)
                if parts.path == receiver.refuse_path:
                    self.send_response(403)
                    self.end_headers()
                    return
                answer = token[0].encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
            with receiver.lock:
                receiver.notifications.append((parts.path, json.loads(body)))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _graph(sandbox: SandboxHandle) -> httpx.Client:
    return httpx.Client(
        base_url=sandbox.graph_url,
        verify=sandbox.ssl_context(),
        headers={"Authorization": f"Bearer {sandbox.app_token()}"},
    )


def _expiry(minutes: int = 60) -> str:
    moment = datetime.now(UTC) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _subscribe(
    graph: httpx.Client, receiver: Receiver, resource: str, *, lifecycle: bool = True
) -> httpx.Response:
    body: dict[str, Any] = {
        "changeType": "created,updated,deleted",
        "notificationUrl": f"{receiver.base_url}/notify",
        "resource": resource,
        "expirationDateTime": _expiry(),
        "clientState": f"secret-{resource}",
    }
    if lifecycle:
        body["lifecycleNotificationUrl"] = f"{receiver.base_url}/lifecycle"
    return graph.post("/subscriptions", json=body)


@pytest.fixture
def sandbox(
    fresh: Callable[..., AbstractContextManager[SandboxHandle]],
) -> Iterator[SandboxHandle]:
    with fresh(messages_per_mailbox=30) as running:
        yield running


def test_a_refused_lifecycle_handshake_refuses_the_subscription(sandbox: SandboxHandle) -> None:
    address = sandbox.mailboxes[0]
    # GIVEN a subscriber that answers the change URL's handshake but not the lifecycle URL's
    with receiving(refuse_path="/lifecycle") as receiver, _graph(sandbox) as graph:
        # WHEN a subscription with both URLs is created
        answer = _subscribe(graph, receiver, f"users/{address}/messages")
        # THEN Graph validated both, and refuses the subscription naming the lifecycle URL
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "ValidationError"
        assert "/lifecycle" in answer.json()["error"]["message"]
        assert receiver.validations == ["/notify", "/lifecycle"]
        assert sandbox.subscriptions()["subscriptions"] == []
        # AND a clientState longer than Graph's 128 characters is refused before any handshake
        too_long = {
            "changeType": "created",
            "notificationUrl": f"{receiver.base_url}/notify",
            "resource": f"users/{address}/events",
            "expirationDateTime": _expiry(),
            "clientState": "s" * 129,
        }
        answer = graph.post("/subscriptions", json=too_long)
        assert answer.status_code == 400 and "clientState" in answer.json()["error"]["message"]
        assert receiver.validations == ["/notify", "/lifecycle"]


def test_meeting_changes_notify_events_subscriptions_and_mail_notifies_messages(
    sandbox: SandboxHandle,
) -> None:
    address = sandbox.mailboxes[0]
    meeting = next(
        m for m in sandbox.truth_meetings() if any(c["mailbox"] == address for c in m["copies"])
    )
    with receiving() as receiver, _graph(sandbox) as graph:
        # GIVEN a mailbox subscribed to its messages and to its events
        ids = {}
        for kind in ("messages", "events"):
            answer = _subscribe(graph, receiver, f"users/{address}/{kind}")
            assert answer.status_code == 201, answer.text
            assert answer.json()["lifecycleNotificationUrl"].endswith("/lifecycle")
            ids[kind] = answer.json()["id"]
        # WHEN a meeting in its calendar changes
        sandbox.update_meeting(meeting["uid"], subject="Moved")

        def about(kind: str) -> list[dict[str, Any]]:
            return [
                item
                for path, body in receiver.notifications
                for item in body["value"]
                if path == "/notify" and item["subscriptionId"] == ids[kind]
            ]

        # THEN only the events subscription hears of it, as an event update
        receiver.wait_for(lambda: bool(about("events")), "the events subscription is notified")
        event = about("events")[0]
        assert event["changeType"] == "updated"
        assert event["clientState"] == f"secret-users/{address}/events"
        assert event["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
        assert about("messages") == []
        # WHEN mail arrives, THEN only the messages subscription hears of it
        sandbox.deliver(address, 1)
        receiver.wait_for(lambda: bool(about("messages")), "the messages subscription is notified")
        assert {n["changeType"] for n in about("messages")} == {"created"}
        assert {n["resourceData"]["@odata.type"] for n in about("messages")} == {
            "#Microsoft.Graph.Message"
        }


def test_lifecycle_events_reauthorize_and_removal(sandbox: SandboxHandle) -> None:
    address = sandbox.mailboxes[1]
    with receiving() as receiver, _graph(sandbox) as graph:
        # GIVEN a subscription with a lifecycle URL, and one without
        created = _subscribe(graph, receiver, f"users/{address}/events").json()
        plain = _subscribe(graph, receiver, f"users/{address}/messages", lifecycle=False).json()
        subscription_id = created["id"]

        def lifecycle_events() -> list[dict[str, Any]]:
            return [
                item
                for path, body in receiver.notifications
                if path == "/lifecycle"
                for item in body["value"]
            ]

        # WHEN the sandbox is asked for an event it does not know, or for a subscription
        # that has no lifecycle URL, THEN it refuses
        with pytest.raises(SandboxAdminError) as refused:
            sandbox.send_lifecycle(subscription_id, "expired")
        assert refused.value.status == 400
        with pytest.raises(SandboxAdminError) as refused:
            sandbox.send_lifecycle(plain["id"], "missed")
        assert refused.value.status == 400
        # WHEN Graph requires reauthorization
        sandbox.send_lifecycle(subscription_id, "reauthorizationRequired")
        receiver.wait_for(lambda: len(lifecycle_events()) == 1, "reauthorizationRequired is sent")
        sent = lifecycle_events()[0]
        # THEN the subscriber gets it with the subscription's clientState, and it is pending
        assert sent["lifecycleEvent"] == "reauthorizationRequired"
        assert sent["subscriptionId"] == subscription_id
        assert sent["clientState"] == created["clientState"]
        held = {s["id"]: s for s in sandbox.subscriptions()["subscriptions"]}
        assert held[subscription_id]["needsReauthorization"] is True
        # WHEN the app reauthorizes, THEN 204, no longer pending, and the expiry is unchanged
        assert graph.post(f"/subscriptions/{subscription_id}/reauthorize").status_code == 204
        held = {s["id"]: s for s in sandbox.subscriptions()["subscriptions"]}
        assert held[subscription_id]["needsReauthorization"] is False
        assert held[subscription_id]["expirationDateTime"] == created["expirationDateTime"]
        assert sandbox.subscriptions()["counters"]["reauthorized"] == 1
        # WHEN notifications were missed, THEN the subscriber is told so
        sandbox.send_lifecycle(subscription_id, "missed")
        receiver.wait_for(lambda: len(lifecycle_events()) == 2, "missed is sent")
        assert lifecycle_events()[1]["lifecycleEvent"] == "missed"
        # WHEN Graph removes the subscription, THEN the subscriber is told, and it is gone:
        # renewing or reauthorizing it is 404, as for an id Graph never issued
        sandbox.send_lifecycle(subscription_id, "subscriptionRemoved")
        receiver.wait_for(lambda: len(lifecycle_events()) == 3, "subscriptionRemoved is sent")
        assert lifecycle_events()[2]["lifecycleEvent"] == "subscriptionRemoved"
        for gone in (subscription_id, "never-issued"):
            renew = graph.patch(f"/subscriptions/{gone}", json={"expirationDateTime": _expiry(90)})
            assert renew.status_code == 404
            assert renew.json()["error"]["code"] == "ResourceNotFound"
            assert graph.post(f"/subscriptions/{gone}/reauthorize").status_code == 404
        with pytest.raises(SandboxAdminError) as refused:
            sandbox.send_lifecycle(subscription_id, "missed")
        assert refused.value.status == 404
