"""Message bodies outside a page's upsert: the ones already stored, and pending ones settled.

A message in several mailboxes is one row (invariant 2), so its body needs
fetching once: ``stored_bodies`` lets the sync skip the request when another
mailbox's copy already brought it. A body that could not be fetched in its
page's run is flagged ``body_pending`` (``PageWrite.body_pending_keys``, or a
late link); the mailbox's next run fetches it, links the message again on it
and settles it here, in the same transaction as the links that found.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from crm_store.models import Message
from crm_store.upsert import chunks

BodyPair = tuple[str | None, str | None]


def stored_bodies(session: Session, message_keys: Collection[str]) -> dict[str, BodyPair]:
    """(text, html) by message key for the messages that already have a body stored."""
    found: dict[str, BodyPair] = {}
    for chunk in chunks(sorted(set(message_keys))):
        rows = session.execute(
            select(Message.message_key, Message.body_text, Message.body_html).where(
                Message.message_key.in_(chunk),
                or_(Message.body_text.is_not(None), Message.body_html.is_not(None)),
            )
        )
        found.update({str(key): (text, html) for key, text, html in rows})
    return found


def settle_pending_bodies(
    session: Session,
    bodies: Mapping[int, BodyPair],
    settled: Collection[int],
    bodyless: Collection[int] = (),
) -> int:
    """Keep the bodies of tracked messages; the ``settled`` ones stop being pending.

    Write this after the late links of the same fetch (``write_late_links``),
    so a message its body just linked is tracked and keeps the body. A body of
    a message still untracked is dropped here, whatever the caller passes
    (invariant 4); ``bodyless`` messages are tracked by a rule that keeps no
    body. A message not in ``settled`` (its fetch was throttled) stays pending.
    Returns the number of bodies written.
    """
    for chunk in chunks(sorted(set(bodyless))):
        session.execute(
            update(Message)
            .where(Message.id.in_(chunk))
            .values(store_body=False, body_text=None, body_html=None),
            execution_options={"synchronize_session": False},
        )
    written = 0
    for message_id, (text, html) in bodies.items():
        if text is None and html is None:
            continue
        result = session.execute(
            update(Message)
            .where(
                Message.id == message_id,
                Message.tracked.is_(True),
                Message.store_body.is_(True),
            )
            .values(body_text=text, body_html=html),
            execution_options={"synchronize_session": False},
        )
        written += int(getattr(result, "rowcount", 0) or 0)
    for chunk in chunks(sorted(set(settled))):
        session.execute(
            update(Message).where(Message.id.in_(chunk)).values(body_pending=False),
            execution_options={"synchronize_session": False},
        )
    return written
