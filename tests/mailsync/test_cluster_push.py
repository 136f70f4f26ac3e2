"""Push: Graph change notifications turn new mail into a stored item within seconds, no poll.

The whole loop runs for real: the subscription job creates a subscription in
the sandbox, the sandbox validates our endpoint (the handshake), new mail
makes the sandbox POST a notification to the web service, web checks its
clientState and queues a sync, a worker runs it.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from crm_store.database import make_session_factory, session_scope
from crm_store.models import Mailbox, MessageCopy
from crm_store.subscriptions import save_subscription
from mailsync.config import load_settings
from mailsync.sandbox.runner import running_sandbox
from tests.conftest import MigratedDatabase
from tests.mailsync.cluster_support import (
    Fleet,
    cluster_config,
    cluster_db,
    last_syncs,
    wait_for,
)
from web.app import create_app

__all__ = ["cluster_db"]  # the fixture, imported for pytest

NOTIFY_PATH = "/api/v1/graph/notifications"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _all_synced(engine: Engine) -> bool:
    syncs = last_syncs(engine)
    return bool(syncs) and all(s is not None for s in syncs.values())


def _queued_syncs(db: MigratedDatabase) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM procrastinate_jobs WHERE task_name LIKE '%sync_mailbox'")
            ).scalar_one()
        )


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_a_notification_brings_new_mail_into_the_store_without_a_poll(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    engine = cluster_db.engine
    port = _free_port()
    with running_sandbox(seed=5, mailboxes=2, messages_per_mailbox=20) as sandbox:
        # GIVEN a cluster with push on, polling only once an hour
        config = cluster_config(
            tmp_path,
            sandbox,
            cluster_db.url,
            interval=3600,
            daemon="tick_seconds = 1\nheartbeat_seconds = 1\nstalled_worker_seconds = 3",
            push=f'enabled = true\nnotification_url = "http://127.0.0.1:{port}{NOTIFY_PATH}"\n'
            "check_seconds = 1\nsafety_poll_seconds = 3600",
            web=f'enabled = true\nport = {port}\npublic_base_url = "http://127.0.0.1:{port}"',
        )
        fleet = Fleet(config, tmp_path)
        try:
            fleet.ticker("node")
            fleet.worker("worker", concurrency=2)
            # WHEN the first syncs and the subscriptions are done
            wait_for(
                lambda: _all_synced(engine),
                90,
                "the first sync of every mailbox",
                fleet,
            )
            wait_for(
                lambda: len(sandbox.subscriptions()["subscriptions"]) == 4,
                60,
                "both mailboxes' mail and calendars are subscribed (after the handshakes)",
                fleet,
            )
            first_syncs = last_syncs(engine)
            # AND new mail arrives in one mailbox
            address = sandbox.mailboxes[0]
            delivered = sandbox.deliver(address, 1)
            item_ids = {c["id"] for c in delivered[0]["copies"] if c["mailbox"] == address}

            # THEN it is in the store within seconds, long before the hourly poll
            def stored() -> bool:
                with engine.connect() as conn:
                    found = conn.scalar(
                        select(func.count())
                        .select_from(MessageCopy)
                        .where(MessageCopy.provider_item_id.in_(item_ids))
                    )
                return bool(found)

            def synced_again() -> bool:
                # the page with the message commits before the sync's outcome does
                return stored() and last_syncs(engine)[address] != first_syncs[address]

            wait_for(synced_again, 20, "the notified message is stored", fleet)
            counters = sandbox.subscriptions()["counters"]
            assert counters.get("notified", 0) >= 1, counters
            # AND only the notified mailbox synced again (no poll touched the other)
            now_syncs = last_syncs(engine)
            other = sandbox.mailboxes[1]
            assert now_syncs[other] == first_syncs[other]
        finally:
            fleet.stop()


@pytest.mark.postgres
def test_endpoint_handshake_and_client_state(tmp_path: Path, cluster_db: MigratedDatabase) -> None:
    sessions = make_session_factory(cluster_db.engine)
    settings_path = tmp_path / "mailsync.toml"
    settings_path.write_text(f'[store]\nurl = "{cluster_db.url}"\n', encoding="utf-8")
    app = create_app(load_settings(settings_path), sessions)
    with session_scope(sessions, write=True) as session:
        mailbox = Mailbox(address="ann@example.com", sync_status="idle", consecutive_failures=0)
        session.add(mailbox)
        session.flush()
        save_subscription(
            session,
            mailbox_id=mailbox.id,
            resource_kind="messages",
            subscription_id="sub-1",
            resource="users/ann@example.com/messages",
            client_state="the-right-secret",
            expires_at=func.now(),  # type: ignore[arg-type]
        )
    client = TestClient(app)
    # GIVEN Graph's validation request, THEN the token comes back as text/plain, 200
    answer = client.post(NOTIFY_PATH, params={"validationToken": "Validation: abc 123"})
    assert answer.status_code == 200
    assert answer.text == "Validation: abc 123"
    assert answer.headers["content-type"].startswith("text/plain")
    # GIVEN a notification with a wrong clientState, THEN it is accepted but queues nothing
    forged = {"value": [{"subscriptionId": "sub-1", "clientState": "guess", "changeType": "x"}]}
    assert client.post(NOTIFY_PATH, json=forged).status_code == 202
    assert client.post(NOTIFY_PATH, json={"value": [{"subscriptionId": "nope"}]}).status_code == 202
    assert _queued_syncs(cluster_db) == 0
    # GIVEN two genuine notifications for the same mailbox, THEN exactly one sync waits
    genuine = {"value": [{"subscriptionId": "sub-1", "clientState": "the-right-secret"}] * 2}
    assert client.post(NOTIFY_PATH, json=genuine).status_code == 202
    assert client.post(NOTIFY_PATH, json=genuine).status_code == 202
    assert _queued_syncs(cluster_db) == 1
    # GIVEN a body that is not a notification, THEN 400
    assert client.post(NOTIFY_PATH, content=b"not json").status_code == 400
    queue = getattr(app.state, "sync_queue", None)
    if queue is not None:
        queue.close()
