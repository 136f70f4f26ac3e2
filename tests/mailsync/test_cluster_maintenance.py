"""The cluster ticker's maintenance duty: retroactive linking from the CRM change log, the purge.

In cluster mode no single daemon runs the maintenance pass; every ``mailsync
run`` node's ticker does (its watermark row lets one node at a time link).
These tests drive the real ``ClusterTicker`` as ``mailsync run`` builds it —
with the configured ``maintenance_for`` pass — and let its scheduler run the
duty; the duty runs as the ticker starts, so no test waits for an interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_session_factory
from crm_store.models import Link, Message
from crm_store.sync_writes import PageWrite, apply_page
from mailsync.cluster.queue import client_app
from mailsync.cluster.ticker import ClusterTicker
from mailsync.config import Settings, load_settings
from mailsync.retro_linking import maintenance_for
from tests.conftest import MigratedDatabase
from tests.factories import make_account, make_contact, make_mailbox, message_item
from tests.mailsync.cluster_support import cluster_db

__all__ = ["cluster_db"]  # the fixture, imported for pytest

pytestmark = pytest.mark.postgres

WINDOW_DAYS = 30


def cluster_settings(directory: Path, db_url: str) -> Settings:
    path = directory / "mailsync.toml"
    path.write_text(
        f'[store]\nurl = "{db_url}"\n[daemon]\nmode = "cluster"\n[web]\nenabled = false\n'
        f"[rules]\nretro_window_days = {WINDOW_DAYS}\n",
        encoding="utf-8",
    )
    return load_settings(path)


def store_unmatched(session: Session, mailbox_id: int, sender: str, sent_at: datetime) -> int:
    """A message that matched nothing, stored as a sync stores it: metadata only."""
    item = message_item(sender=sender, sent_at=sent_at, subject="Hello there", body_text=None)
    written = apply_page(
        session,
        mailbox_id,
        PageWrite(folder="inbox", messages=[item], links={item.message_key: ()}),
    )
    return written.message_ids[item.message_key]


def run_ticker_until(
    settings: Settings, sessions: sessionmaker[Session], done: Callable[[], bool]
) -> None:
    """Start the node's ticker (its duties run at once), wait for ``done``, stop it."""
    app = client_app(settings.database_url)
    ticker = ClusterTicker(settings, sessions, app, maintenance=maintenance_for(settings, sessions))
    try:
        ticker.start()
        deadline = time.monotonic() + 20
        while not done():
            assert time.monotonic() < deadline, "the ticker's maintenance duty did not run"
            time.sleep(0.05)
    finally:
        ticker.stop()
        app.close()


def test_the_ticker_links_earlier_mail_to_a_new_contact_and_purges_the_window(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    settings = cluster_settings(tmp_path, cluster_db.url)
    sessions = make_session_factory(cluster_db.engine)
    now = datetime.now(UTC)
    # GIVEN a synced mailbox holding a recent message from an address the CRM did not know,
    # and an unmatched one older than the retroactive window
    with sessions() as session:
        mailbox = make_mailbox(session, address="seller@ourco.example", enabled=False)
        account = make_account(session, name="Newco", domains=["newco.example"])
        session.commit()
        recent = store_unmatched(session, mailbox.id, "bob@elsewhere.example", now)
        expired = store_unmatched(
            session, mailbox.id, "old@nowhere.example", now - timedelta(days=WINDOW_DAYS + 5)
        )
        session.commit()
    # AND the CRM then learns that address: a new contact (the change log records it)
    with sessions() as session:
        contact = make_contact(session, account=account, emails=["bob@elsewhere.example"])
        session.commit()
        contact_id = contact.id

    def linked() -> bool:
        with sessions() as session:
            return bool(session.scalar(select(func.count()).where(Link.item_id == recent)))

    # WHEN a cluster node's ticker starts and its maintenance duty runs
    run_ticker_until(settings, sessions, linked)
    # THEN the earlier message is linked to the contact and its account, its body asked for
    with sessions() as session:
        links = set(
            session.execute(select(Link.target_kind, Link.target_id).where(Link.item_id == recent))
        )
        assert links == {("contact", contact_id), ("account", account.id)}
        message = session.get(Message, recent)
        assert message is not None and message.tracked and message.body_pending
        # AND the same pass purged the unmatched message past the window, and only it
        assert session.get(Message, expired) is None
