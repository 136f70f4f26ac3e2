"""The live index's view of who is ours follows users and mailboxes through the change log.

Every test runs on SQLite and PostgreSQL (the ``session`` fixture); the log is
written by the store's own triggers (revisions 0005 and 0012).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from crm_store.crm_changes import last_change_id
from crm_store.items import Address
from crm_store.models import Mailbox
from mailsync.direction import InternalConfig
from mailsync.live_index import LiveCrmIndex
from tests.factories import make_mailbox, make_user

CONFIG = InternalConfig(("ourco.example",), (), frozenset({"gmail.com"}))


def test_a_mailbox_registered_or_removed_later_changes_who_is_ours_at_the_next_refresh(
    session: Session,
) -> None:
    # GIVEN a live index loaded when only the configured domain is ours
    make_user(session, email="kim@ourco.example")
    session.commit()
    live = LiveCrmIndex.load(session, CONFIG)
    assert not live.internal.is_internal(Address("desk@branch.example"))
    # WHEN a mailbox at a subsidiary's domain is registered, and the index refreshes
    mailbox = make_mailbox(session, address="shared@branch.example")
    session.commit()
    changed = live.refresh(session)
    # THEN its domain is ours for the engine's direction and for the rules alike, by a patch
    assert changed.mailboxes_changed and not changed.users_changed
    assert live.internal.is_internal(Address("desk@branch.example"))
    assert live.index.is_internal("desk@branch.example")
    assert (live.patches, live.rebuilds) == (1, 0)
    # AND the mailbox's status updates on every run log nothing
    applied = live.applied_id
    session.execute(update(Mailbox).values(sync_status="ok", consecutive_failures=0))
    session.commit()
    assert last_change_id(session) == applied
    # AND once it is removed, the subsidiary is no longer ours (the configured domain still is)
    session.delete(session.get(Mailbox, mailbox.id))
    session.commit()
    live.refresh(session)
    assert not live.internal.is_internal(Address("desk@branch.example"))
    assert not live.index.is_internal("desk@branch.example")
    assert live.internal.is_internal(Address("kim@ourco.example"))


def test_a_users_private_free_mail_address_is_ours_but_not_its_provider(
    session: Session,
) -> None:
    # GIVEN a live index, WHEN a user whose address is a gmail.com one is added
    live = LiveCrmIndex.load(session, CONFIG)
    make_user(session, email="Kim.Private@gmail.com")
    session.commit()
    live.refresh(session)
    # THEN that address is ours, every other gmail.com sender is not
    assert live.internal.is_internal(Address("kim.private@gmail.com"))
    assert not live.internal.is_internal(Address("customer@gmail.com"))
    assert not live.index.is_internal("customer@gmail.com")
