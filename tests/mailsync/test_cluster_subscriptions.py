"""The subscription jobs against the sandbox over real HTTP: creation backoff, renewal, 404.

They run in-process (``SubscriptionKeeper``) with a clock the test moves, so
days of subscription life pass in seconds; Graph (the sandbox), the web
endpoint answering the handshakes (uvicorn on loopback) and the PostgreSQL
queue are the real ones.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from crm_store.database import make_session_factory, session_scope
from crm_store.models import GraphSubscriptionAttempt, Mailbox
from crm_store.subscriptions import save_subscription
from mailsync.cluster.pg_budget import PostgresBudget
from mailsync.cluster.queue import MailsyncApp, client_app
from mailsync.cluster.subscriptions import SubscriptionKeeper
from mailsync.cluster.ticker import ClusterTicker
from mailsync.config import Settings, load_settings
from mailsync.mailboxes import register_mailboxes
from mailsync.runtime import budget_limits, registry_for
from mailsync.sandbox.runner import SandboxHandle, running_sandbox
from tests.conftest import MigratedDatabase
from tests.e2e.servers import serve_on_loopback
from tests.mailsync.cluster_support import cluster_config, cluster_db
from tests.mailsync.push_support import NOTIFY_PATH, Clock, waiting_syncs
from web.app import create_app

__all__ = ["cluster_db"]  # the fixture, imported for pytest

pytestmark = pytest.mark.postgres

START = datetime.now(UTC).replace(microsecond=0)


def _settings(tmp_path: Path, sandbox: SandboxHandle, db_url: str, base_url: str) -> Settings:
    config = cluster_config(
        tmp_path,
        sandbox,
        db_url,
        interval=3600,
        push=f'enabled = true\nnotification_url = "{base_url}{NOTIFY_PATH}"\n'
        "subscription_minutes = 4320\nrenew_before_minutes = 720",
    )
    return load_settings(config)


@contextmanager
def _keeper(settings: Settings, db: MigratedDatabase) -> Iterator[tuple[SubscriptionKeeper, Clock]]:
    """The subscription jobs as a worker runs them, on a clock the test moves."""
    sessions = make_session_factory(db.engine)
    with session_scope(sessions, write=True) as session:
        register_mailboxes(session, settings.mailboxes)
    app: MailsyncApp = client_app(db.url)
    clock = Clock(START)
    budget = PostgresBudget(db.engine, budget_limits(settings))
    try:
        yield (
            SubscriptionKeeper(
                settings=settings,
                sessions=sessions,
                registry=registry_for(settings, budget),
                app=app,
                clock=clock,
            ),
            clock,
        )
    finally:
        app.close()


@contextmanager
def _keeper_with_web(
    tmp_path: Path, sandbox: SandboxHandle, db: MigratedDatabase
) -> Iterator[tuple[SubscriptionKeeper, Clock, str]]:
    """The subscription jobs, with the web service answering Graph's handshakes on loopback
    at the notification URL they subscribe with; also yields that service's base URL."""
    holder: dict[str, Settings] = {}

    def build(base_url: str) -> Any:
        holder["settings"] = _settings(tmp_path, sandbox, db.url, base_url)
        return create_app(holder["settings"], make_session_factory(db.engine))

    with (
        serve_on_loopback(build) as base_url,
        _keeper(holder["settings"], db) as (keeper, clock),
    ):
        yield keeper, clock, base_url


def _attempts(db: MigratedDatabase) -> dict[tuple[int, str], tuple[int, datetime]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(
                GraphSubscriptionAttempt.mailbox_id,
                GraphSubscriptionAttempt.resource_kind,
                GraphSubscriptionAttempt.failures,
                GraphSubscriptionAttempt.retry_at,
            )
        )
        return {(int(m), str(k)): (int(f), r) for m, k, f, r in rows}


def _dead_url() -> str:
    """A loopback URL nothing listens on: Graph's handshake cannot reach it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_refused_creation_backs_off_and_polling_goes_on(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    with running_sandbox(seed=5, mailboxes=2, messages_per_mailbox=10) as sandbox:
        # GIVEN push on, but a notification URL Graph's validation request cannot reach
        settings = _settings(tmp_path, sandbox, cluster_db.url, _dead_url())
        with _keeper(settings, cluster_db) as (keeper, clock):
            # WHEN the subscription job runs
            assert keeper.maintain() == "failed 4"
            # THEN each (mailbox, kind) records its failure and waits a minute
            attempts = _attempts(cluster_db)
            assert len(attempts) == 4
            assert {v for v in attempts.values()} == {(1, START + timedelta(seconds=60))}
            refused = sandbox.subscriptions()["counters"]["validation_failed"]
            assert refused == 4
            # WHEN it runs again within that minute, THEN Graph is not asked again
            clock.now = START + timedelta(seconds=30)
            assert keeper.maintain() == "nothing to do"
            assert sandbox.subscriptions()["counters"]["validation_failed"] == refused
            # WHEN it runs after the minute, THEN it tries again and waits twice as long
            clock.now = START + timedelta(seconds=61)
            assert keeper.maintain() == "failed 4"
            assert {v for v in _attempts(cluster_db).values()} == {
                (2, clock.now + timedelta(seconds=120))
            }
            # AND polling is not held up: the ticker queues the due syncs all the same
            report = ClusterTicker(settings, keeper.sessions, keeper.app, clock=clock).tick()
            assert report.queued == 2
            assert waiting_syncs(cluster_db) == sorted(sandbox.mailboxes)


def test_renewal_extends_and_a_vanished_subscription_is_recreated_and_synced(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    with (
        running_sandbox(seed=5, mailboxes=2, messages_per_mailbox=10) as sandbox,
        # GIVEN the web service answering Graph's handshakes, and every mailbox subscribed
        _keeper_with_web(tmp_path, sandbox, cluster_db) as (keeper, clock, _),
    ):
        assert keeper.maintain() == "created 4"
        held = {s["id"]: s for s in sandbox.subscriptions()["subscriptions"]}
        assert {s["resource"].rsplit("/", 1)[1] for s in held.values()} == {
            "messages",
            "events",
        }
        assert all(
            s["lifecycleNotificationUrl"].endswith("/graph/lifecycle") for s in held.values()
        )
        # AND Graph has lost one of them (removed while nobody listened)
        lost = next(iter(held))
        _graph_delete(sandbox, lost)
        lost_mailbox = next(a for a in sandbox.mailboxes if f"users/{a}/" in held[lost]["resource"])
        # WHEN the job runs inside the renewal margin (720 minutes before expiry)
        assert keeper.maintain() == "nothing to do"
        clock.now = START + timedelta(minutes=4320 - 719)
        result = keeper.maintain()
        # THEN three are renewed to a later expiry, the lost one is created anew,
        assert result == "renewed 3, recreated 1"
        now_held = {s["id"]: s for s in sandbox.subscriptions()["subscriptions"]}
        assert len(now_held) == 4 and lost not in now_held
        for subscription_id in set(held) - {lost}:
            assert (
                now_held[subscription_id]["expirationDateTime"]
                > held[subscription_id]["expirationDateTime"]
            )
        # AND its mailbox (only) is synced, for the changes no one was notified of
        assert waiting_syncs(cluster_db) == [lost_mailbox]
        with cluster_db.engine.connect() as conn:
            stored = set(conn.scalars(text("SELECT subscription_id FROM graph_subscriptions")))
        assert stored == set(now_held)


def _graph_delete(sandbox: SandboxHandle, subscription_id: str) -> None:
    with sandbox.httpx_client() as client:
        response = client.delete(
            f"{sandbox.graph_url}/subscriptions/{subscription_id}",
            headers={"Authorization": f"Bearer {sandbox.app_token()}"},
        )
    assert response.status_code == 204, response.text


def test_a_subscription_without_lifecycle_notifications_is_replaced_at_renewal(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    with (
        running_sandbox(seed=5, mailboxes=1, messages_per_mailbox=10) as sandbox,
        _keeper_with_web(tmp_path, sandbox, cluster_db) as (keeper, clock, base_url),
    ):
        # GIVEN a mail subscription made before lifecycle notifications were asked for
        address = sandbox.mailboxes[0]
        old = _graph_create(sandbox, address, f"{base_url}{NOTIFY_PATH}", "old-secret")
        with session_scope(keeper.sessions, write=True) as session:
            mailbox_id = session.scalar(select(Mailbox.id).where(Mailbox.address == address))
            assert mailbox_id is not None
            save_subscription(
                session,
                mailbox_id=mailbox_id,
                resource_kind="messages",
                subscription_id=old,
                resource=f"users/{address}/messages",
                client_state="old-secret",
                expires_at=START + timedelta(minutes=4320),
            )
        assert keeper.maintain() == "created 1"  # the calendar's
        # WHEN it is renewed
        clock.now = START + timedelta(minutes=4320 - 719)
        # THEN a subscription with a lifecycle URL replaces it, in Graph and in the store
        assert keeper.maintain() == "renewed 1, given a lifecycle URL 1"
        held = sandbox.subscriptions()["subscriptions"]
        assert old not in {s["id"] for s in held}
        assert all(s["lifecycleNotificationUrl"] for s in held)
        with cluster_db.engine.connect() as conn:
            stored = set(conn.scalars(text("SELECT subscription_id FROM graph_subscriptions")))
        assert stored == {s["id"] for s in held}
        # AND no sync was needed: the old one notified until the new one took over
        assert waiting_syncs(cluster_db) == []


def _graph_create(sandbox: SandboxHandle, address: str, url: str, client_state: str) -> str:
    with sandbox.httpx_client() as client:
        response = client.post(
            f"{sandbox.graph_url}/subscriptions",
            headers={"Authorization": f"Bearer {sandbox.app_token()}"},
            json={
                "changeType": "created,updated,deleted",
                "notificationUrl": url,
                "resource": f"users/{address}/messages",
                "expirationDateTime": (START + timedelta(minutes=4320)).strftime(
                    "%Y-%m-%dT%H:%M:%S.0000000Z"
                ),
                "clientState": client_state,
            },
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
