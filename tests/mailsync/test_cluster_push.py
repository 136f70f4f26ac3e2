"""Push: Graph notifications turn new mail and meeting changes into stored items within
seconds, no poll; lifecycle notifications keep the subscriptions and the store whole.

The whole loop runs for real: the subscription job creates a messages and an
events subscription per mailbox in the sandbox, the sandbox validates our
endpoints (both handshakes), a change makes the sandbox POST a notification to
the web service, web checks its clientState and queues a sync, a worker runs
it. Lifecycle events are sent by the sandbox on the test's request.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from crm_store.models import GraphSubscription, Mailbox, Meeting, MessageCopy
from mailsync.sandbox.runner import SandboxHandle, running_sandbox
from tests.conftest import MigratedDatabase
from tests.mailsync.cluster_support import (
    Fleet,
    cluster_config,
    cluster_db,
    last_syncs,
    wait_for,
)
from tests.mailsync.push_support import NOTIFY_PATH

__all__ = ["cluster_db"]  # the fixture, imported for pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _all_synced(engine: Engine) -> bool:
    syncs = last_syncs(engine)
    return bool(syncs) and all(s is not None for s in syncs.values())


@contextmanager
def _push_cluster(
    tmp_path: Path, db: MigratedDatabase, *, mailboxes: int
) -> Iterator[tuple[SandboxHandle, Fleet]]:
    """A sandbox with ``mailboxes`` mailboxes, and a ticker (with web) and a worker on it, push
    on, polling hourly; yields once every mailbox has synced and has its two subscriptions
    (after both validation handshakes each)."""
    with running_sandbox(seed=5, mailboxes=mailboxes, messages_per_mailbox=20) as sandbox:
        port = _free_port()
        config = cluster_config(
            tmp_path,
            sandbox,
            db.url,
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
            wait_for(lambda: _all_synced(db.engine), 90, "the first sync of every mailbox", fleet)
            wait_for(
                lambda: len(_stored_subscriptions(db)) == 2 * len(sandbox.mailboxes),
                60,
                "every mailbox's mail and calendar are subscribed (after the handshakes)",
                fleet,
            )
            yield sandbox, fleet
        finally:
            fleet.stop()


def _stored_subscriptions(db: MigratedDatabase) -> dict[tuple[str, str], tuple[str, datetime]]:
    """(address, kind) -> (subscription id, expiry) as the store holds them."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(
                Mailbox.address,
                GraphSubscription.resource_kind,
                GraphSubscription.subscription_id,
                GraphSubscription.expires_at,
            ).join(Mailbox, Mailbox.id == GraphSubscription.mailbox_id)
        )
        return {(str(a), str(k)): (str(i), e) for a, k, i, e in rows}


def _sandbox_subscription(sandbox: SandboxHandle, subscription_id: str) -> dict[str, Any] | None:
    for found in sandbox.subscriptions()["subscriptions"]:
        if found["id"] == subscription_id:
            return dict(found)
    return None


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_a_notification_brings_new_mail_into_the_store_without_a_poll(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    engine = cluster_db.engine
    # GIVEN a cluster with push on, polling only once an hour, every mailbox subscribed
    with _push_cluster(tmp_path, cluster_db, mailboxes=2) as (sandbox, fleet):
        first_syncs = last_syncs(engine)
        # WHEN new mail arrives in one mailbox
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


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_a_meeting_change_reaches_the_store_without_a_poll(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    engine = cluster_db.engine
    # GIVEN a cluster with push on, polling only once an hour, every calendar subscribed
    with _push_cluster(tmp_path, cluster_db, mailboxes=3) as (sandbox, fleet):
        with engine.connect() as conn:
            stored_keys = set(conn.scalars(select(Meeting.meeting_key)))
        meeting = next(
            m
            for m in sandbox.truth_meetings()
            if m["key"] in stored_keys and not any(c["removed"] for c in m["copies"])
        )
        holders = {c["mailbox"] for c in meeting["copies"]}
        first_syncs = last_syncs(engine)
        notified_before = sandbox.subscriptions()["counters"].get("notified", 0)
        # WHEN the organizer renames the meeting
        subject = f"Pushed {uuid.uuid4().hex[:8]}"
        sandbox.update_meeting(meeting["uid"], subject=subject)

        # THEN the new subject is in the store within seconds, long before the hourly poll
        def renamed() -> bool:
            with engine.connect() as conn:
                subjects = set(
                    conn.scalars(select(Meeting.subject).where(Meeting.uid == meeting["uid"]))
                )
            return subjects == {subject}

        wait_for(renamed, 20, "the renamed meeting is stored", fleet)
        assert sandbox.subscriptions()["counters"].get("notified", 0) > notified_before
        # AND only mailboxes holding the meeting synced again: no poll, no mail subscription
        now_syncs = last_syncs(engine)
        for address in set(sandbox.mailboxes) - holders:
            assert now_syncs[address] == first_syncs[address], address


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_lifecycle_notifications_recreate_resync_and_reauthorize(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    engine = cluster_db.engine
    # GIVEN a cluster with push on, polling only once an hour, every mailbox subscribed
    with _push_cluster(tmp_path, cluster_db, mailboxes=2) as (sandbox, fleet):
        ann, bob = sandbox.mailboxes
        subscriptions = _stored_subscriptions(cluster_db)
        first_syncs = last_syncs(engine)

        # WHEN Graph removes ann's mail subscription
        removed, _ = subscriptions[(ann, "messages")]
        sandbox.send_lifecycle(removed, "subscriptionRemoved")

        # THEN a new one replaces it, in Graph and in the store, and ann's mailbox is synced
        def replaced() -> bool:
            now = _stored_subscriptions(cluster_db).get((ann, "messages"))
            return (
                now is not None
                and now[0] != removed
                and _sandbox_subscription(sandbox, now[0]) is not None
                and last_syncs(engine)[ann] != first_syncs[ann]
            )

        wait_for(replaced, 20, "ann's mail subscription is recreated and ann synced", fleet)
        assert _sandbox_subscription(sandbox, removed) is None
        assert last_syncs(engine)[bob] == first_syncs[bob]

        # WHEN Graph reports missed notifications on bob's calendar subscription
        sandbox.send_lifecycle(subscriptions[(bob, "events")][0], "missed")
        # THEN bob's mailbox is synced
        wait_for(lambda: last_syncs(engine)[bob] != first_syncs[bob], 20, "bob is synced", fleet)

        # WHEN Graph asks to reauthorize bob's mail subscription (a second after its creation,
        # so a renewal is visible in the expiry's whole seconds)
        reauthorize, expires_before = subscriptions[(bob, "messages")]
        time.sleep(1.1)
        sandbox.send_lifecycle(reauthorize, "reauthorizationRequired")

        # THEN the sandbox sees it reauthorized (by a renewal), with a later expiry, stored too
        def reauthorized() -> bool:
            found = _sandbox_subscription(sandbox, reauthorize)
            stored = _stored_subscriptions(cluster_db)[(bob, "messages")]
            return (
                found is not None
                and not found["needsReauthorization"]
                and stored[0] == reauthorize
                and stored[1] > expires_before
            )

        wait_for(reauthorized, 20, "bob's mail subscription is reauthorized", fleet)
        counters = sandbox.subscriptions()["counters"]
        assert counters.get("reauthorized", 0) == 1, counters
        for event in ("subscriptionRemoved", "missed", "reauthorizationRequired"):
            assert counters.get(f"lifecycle_{event}", 0) == 1, counters
