"""Nodes of a fleet started together register the configured mailboxes without tripping
over each other: the unique address would fail every node but the first otherwise."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from crm_store.database import make_session_factory
from crm_store.models import Mailbox
from mailsync.commands.cluster import REGISTRATION_LOCK, register_node_mailboxes
from mailsync.config import Settings
from tests.conftest import MigratedDatabase
from tests.mailsync.cluster_support import cluster_db

__all__ = ["cluster_db"]

ADDRESS = "ann@example.com"


@pytest.mark.postgres
def test_a_node_waits_for_another_nodes_registration_instead_of_failing(
    cluster_db: MigratedDatabase,
) -> None:
    settings = Settings.model_validate(
        {
            "tenant": {
                "tenant_id": "11111111-2222-3333-4444-555555555555",
                "client_id": "66666666-7777-8888-9999-000000000000",
                "client_secret_env": "MAILSYNC_TEST_UNUSED_SECRET",  # read only to sync
            },
            "mailboxes": [{"address": ADDRESS}],
        }
    )
    sessions = make_session_factory(cluster_db.engine)
    errors: list[BaseException] = []

    def start_node() -> None:
        try:
            register_node_mailboxes(sessions, settings)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    # GIVEN another node in the middle of registering the same mailbox (row not committed)
    with cluster_db.engine.connect() as other:
        other.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REGISTRATION_LOCK})
        other.execute(
            Mailbox.__table__.insert().values(
                address=ADDRESS, sync_status="idle", consecutive_failures=0
            )
        )
        # WHEN this node starts meanwhile
        node = threading.Thread(target=start_node)
        node.start()
        node.join(timeout=1.0)
        assert node.is_alive(), "the node did not wait for the other registration"
        other.commit()
    node.join(timeout=30)
    # THEN it registered without error, and the mailbox is there once
    assert not node.is_alive() and errors == []
    with sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(Mailbox).where(Mailbox.address == ADDRESS)
        )
    assert count == 1
