"""Pending bodies in the store: flagged by a page, settled by a later read, never kept untracked.

Every test runs on SQLite and PostgreSQL (the ``db`` fixtures).
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session

from crm_store.message_bodies import settle_pending_bodies, stored_bodies
from crm_store.models import Message
from crm_store.sync_writes import PageWrite, apply_page
from tests.factories import make_mailbox, message_item


def _message(session: Session, message_id: int) -> Message:
    session.expire_all()
    found = session.get(Message, message_id)
    assert found is not None
    return found


def test_a_page_flags_unfetched_bodies_pending_and_a_later_read_settles_them(
    session: Session,
) -> None:
    # GIVEN a tracked message and an unlinked one whose bodies could not be fetched
    mailbox = make_mailbox(session, address="seller@ourco.example")
    tracked = message_item(body_text=None)
    unlinked = message_item(body_text=None)
    keys = frozenset({tracked.message_key, unlinked.message_key})
    first = apply_page(
        session,
        mailbox.id,
        PageWrite(
            folder="inbox",
            messages=[tracked, unlinked],
            tracked_keys=frozenset({tracked.message_key}),
            body_pending_keys=keys,
        ),
    )
    session.commit()
    ids = first.message_ids
    # THEN both are pending, with no body
    assert _message(session, ids[tracked.message_key]).body_pending
    assert _message(session, ids[unlinked.message_key]).body_pending
    # WHEN the same page is delivered again (another run) without reading them
    apply_page(
        session,
        mailbox.id,
        PageWrite(
            folder="inbox",
            messages=[tracked, unlinked],
            tracked_keys=frozenset({tracked.message_key}),
        ),
    )
    session.commit()
    # THEN they stay pending
    assert _message(session, ids[tracked.message_key]).body_pending
    assert _message(session, ids[unlinked.message_key]).body_pending
    # WHEN a page reads both bodies: the tracked one is kept, the unlinked one dropped
    apply_page(
        session,
        mailbox.id,
        PageWrite(
            folder="inbox",
            messages=[
                dataclasses.replace(tracked, body_text="Deal OPP-1"),
                dataclasses.replace(unlinked, body_text="nothing here"),
            ],
            tracked_keys=frozenset({tracked.message_key}),
            body_read_keys=keys,
        ),
    )
    session.commit()
    # THEN neither is pending; only the tracked one has a body
    kept = _message(session, ids[tracked.message_key])
    assert not kept.body_pending and kept.body_text == "Deal OPP-1"
    dropped = _message(session, ids[unlinked.message_key])
    assert not dropped.body_pending and dropped.body_text is None
    # AND the stored body is found by key, the missing one is not
    assert stored_bodies(session, [tracked.message_key, unlinked.message_key]) == {
        tracked.message_key: ("Deal OPP-1", None)
    }


def test_settling_keeps_tracked_bodies_drops_untracked_ones_and_leaves_unsettled_pending(
    session: Session,
) -> None:
    # GIVEN three pending messages: tracked, untracked, and one whose fetch was throttled
    mailbox = make_mailbox(session, address="seller@ourco.example")
    tracked, untracked, throttled = (message_item(body_text=None) for _ in range(3))
    written = apply_page(
        session,
        mailbox.id,
        PageWrite(
            folder="inbox",
            messages=[tracked, untracked, throttled],
            tracked_keys=frozenset({tracked.message_key, throttled.message_key}),
            body_pending_keys=frozenset(
                {tracked.message_key, untracked.message_key, throttled.message_key}
            ),
        ),
    ).message_ids
    session.commit()
    t, u, h = (written[i.message_key] for i in (tracked, untracked, throttled))
    # WHEN the fetched bodies are settled (the throttled one not among them)
    count = settle_pending_bodies(
        session, {t: ("kept", "<p>kept</p>"), u: ("private talk", None)}, settled=[t, u]
    )
    session.commit()
    # THEN the tracked body is written, the untracked one is not (invariant 4)
    assert count == 1
    assert (_message(session, t).body_text, _message(session, t).body_pending) == ("kept", False)
    assert (_message(session, u).body_text, _message(session, u).body_pending) == (None, False)
    # AND the throttled one is still pending for the next run
    assert _message(session, h).body_pending
