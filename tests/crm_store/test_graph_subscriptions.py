"""Stored Graph subscriptions: one per (mailbox, resource kind), creation backoff, revision 0007."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_store.database import make_engine
from crm_store.migrate import upgrade
from crm_store.subscriptions import (
    MissingSubscription,
    NotificationTarget,
    creation_failures,
    notification_target,
    record_failed_creation,
    save_subscription,
    subscriptions_to_create,
)
from tests.conftest import PG_TEST_URL, SCHEMA_PREFIX, MigratedDatabase, _libpq_conninfo
from tests.factories import make_mailbox

KINDS = ("messages", "events")
NOW = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)


def _save(session: Session, mailbox_id: int, kind: str, subscription_id: str) -> None:
    save_subscription(
        session,
        mailbox_id=mailbox_id,
        resource_kind=kind,
        subscription_id=subscription_id,
        resource=f"users/x/{kind}",
        client_state="secret",
        expires_at=NOW + timedelta(days=3),
    )


def test_each_mailbox_needs_one_subscription_per_kind(session: Session) -> None:
    # GIVEN two Graph mailboxes (one with its mail subscribed), an EWS and a disabled one
    ann = make_mailbox(session)
    bob = make_mailbox(session)
    make_mailbox(session, provider="ews")
    make_mailbox(session, enabled=False)
    _save(session, ann.id, "messages", "sub-ann-mail")
    # WHEN asking what to create
    missing = subscriptions_to_create(session, KINDS, NOW)
    # THEN every missing (mailbox, kind) of the enabled Graph mailboxes, and nothing else
    assert missing == [
        MissingSubscription(ann.id, ann.address, "events"),
        MissingSubscription(bob.id, bob.address, "messages"),
        MissingSubscription(bob.id, bob.address, "events"),
    ]
    # AND a second subscription of the same kind for the same mailbox is refused
    with pytest.raises(IntegrityError), session.begin_nested():
        _save(session, ann.id, "messages", "sub-ann-mail-again")


def test_a_failed_creation_waits_until_its_retry_time(session: Session) -> None:
    # GIVEN a mailbox whose calendar subscription failed once, to be retried in a minute
    ann = make_mailbox(session)
    _save(session, ann.id, "messages", "sub-ann-mail")
    record_failed_creation(
        session,
        mailbox_id=ann.id,
        resource_kind="events",
        failures=1,
        retry_at=NOW + timedelta(minutes=1),
        error="HTTP 400 ValidationError",
    )
    # THEN it is not due before then, and due from then on
    assert subscriptions_to_create(session, KINDS, NOW) == []
    due = subscriptions_to_create(session, KINDS, NOW + timedelta(minutes=1))
    assert due == [MissingSubscription(ann.id, ann.address, "events")]
    # WHEN it fails again, THEN the count goes on
    record_failed_creation(
        session,
        mailbox_id=ann.id,
        resource_kind="events",
        failures=creation_failures(session, ann.id, "events") + 1,
        retry_at=NOW + timedelta(minutes=3),
        error="HTTP 400 ValidationError",
    )
    assert creation_failures(session, ann.id, "events") == 2
    # WHEN the subscription is finally made, THEN the failures are forgotten
    _save(session, ann.id, "events", "sub-ann-cal")
    assert creation_failures(session, ann.id, "events") == 0


def test_a_notification_is_trusted_only_with_the_right_client_state(session: Session) -> None:
    ann = make_mailbox(session)
    _save(session, ann.id, "events", "sub-ann-cal")
    assert notification_target(session, "sub-ann-cal", "secret") == NotificationTarget(
        "sub-ann-cal", ann.id, "events"
    )
    assert notification_target(session, "sub-ann-cal", "secreT") is None
    assert notification_target(session, "sub-ann-cal", None) is None
    assert notification_target(session, "sub-unknown", "secret") is None


# --------------------------------------------------------------------------- migration 0007


@contextmanager
def _fresh_store(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database URL on ``backend`` (a new SQLite file, or a new PostgreSQL schema)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    schema = f"{SCHEMA_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq_conninfo(PG_TEST_URL), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(PG_TEST_URL)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(_libpq_conninfo(PG_TEST_URL), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_existing_subscriptions_become_the_messages_ones(
    db: MigratedDatabase, backend: str, tmp_path: Path
) -> None:
    with _fresh_store(backend, tmp_path) as url:
        # GIVEN a store at revision 0006 whose mailboxes have their one (mail) subscription,
        # one of them twice (a race the old schema did not prevent)
        upgrade(url, "0006")
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                for address in ("ann@ourco.example", "bob@ourco.example"):
                    conn.execute(
                        text(
                            "INSERT INTO mailboxes (address, provider, enabled, tracking_policy,"
                            " sync_status, consecutive_failures)"
                            " VALUES (:a, 'graph', true, 'rules', 'idle', 0)"
                        ),
                        {"a": address},
                    )
                ids = dict(conn.execute(text("SELECT address, id FROM mailboxes")).all())
                for mailbox, subscription in (
                    ("ann", "old-ann"),
                    ("bob", "old-bob"),
                    ("bob", "new-bob"),
                ):
                    conn.execute(
                        text(
                            "INSERT INTO graph_subscriptions (mailbox_id, subscription_id,"
                            " resource, client_state_sha256, expires_at)"
                            " VALUES (:m, :s, 'users/x/messages', 'digest', :e)"
                        ),
                        {"m": ids[f"{mailbox}@ourco.example"], "s": subscription, "e": NOW},
                    )
            # WHEN it is upgraded to head
            upgrade(url)
            # THEN each mailbox keeps its newest subscription, as its messages subscription
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT subscription_id, resource_kind FROM graph_subscriptions")
                ).all()
            assert sorted((str(s), str(k)) for s, k in rows) == [
                ("new-bob", "messages"),
                ("old-ann", "messages"),
            ]
        finally:
            engine.dispose()
