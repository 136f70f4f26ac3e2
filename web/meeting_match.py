"""The add-in after the daemon: a meeting named by its Exchange item id finds the daemon's row.

Office.js gives a meeting's Exchange item id but not its iCalendar UID, and the
id is not the Graph immutable id the daemon stored the copy under. So when no
stored row answers to the id, the meeting is looked up by its natural identity
(organizer, start, end, subject: ``crm_store.meeting_merge``) among the ones
the user can see, and the add-in's copy and link go on that row instead of a
new ``exchange-item:`` row. The reverse order (the add-in first, the daemon
later) is merged by the sync's own write.

The pane's read of a meeting's links (and its unlink) sends the same identity
beside the item id, so a meeting only the daemon stored shows its rule links
before anyone links it from the pane (``named_meeting``).

An identity more than one UID-keyed meeting carries is ambiguous and matches
nothing: the add-in then stores its own row, as before, rather than guess.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.items import Address, ItemKind, MeetingItem, Sensitivity
from crm_store.meeting_merge import meeting_identity, meetings_with_identity
from crm_store.models import Meeting
from web.access import can_access_item, is_participant
from web.auth.principal import Principal
from web.item_store import ItemRef, to_item
from web.schemas.items import ItemSelector, ItemSnapshot


def same_meeting(session: Session, principal: Principal, snapshot: ItemSnapshot) -> ItemRef | None:
    """The stored meeting the snapshot is, by natural identity, if exactly one and visible.

    Visible means what lets the add-in store a copy on it: the policy's reach
    (a copy in one of the user's own mailboxes is enough) or the stored
    meeting naming the user's mailbox as organizer or attendee.
    """
    if snapshot.kind is not ItemKind.MEETING or snapshot.i_cal_uid or snapshot.mode != "read":
        return None
    item = to_item(snapshot)
    if not isinstance(item, MeetingItem):
        return None
    return _one_visible(session, principal, item, invitee=snapshot.mailbox or principal.email)


def named_meeting(session: Session, principal: Principal, selector: ItemSelector) -> ItemRef | None:
    """The stored meeting the selector's identity names, if exactly one and the user may work on it.

    Reading or unlinking changes nothing the user owns, so only the policy's
    reach counts here, not being invited: an invitee outside it gets None (the
    API's 404, as for a meeting never stored), and linking from the pane then
    adds their own copy through ``same_meeting``. An identity someone else's
    meeting carries answers exactly as an unknown one, so guessing an
    organizer, times and subject discovers nothing.
    """
    if not selector.item_id or selector.organizer is None:
        return None
    if selector.start is None or selector.end is None or selector.subject is None:
        return None
    item = MeetingItem(
        provider_item_id=selector.item_id,
        folder="",
        uid="",
        subject=selector.subject,
        start=selector.start,
        end=selector.end,
        organizer=Address(selector.organizer),
    )
    return _one_visible(session, principal, item, invitee=None)


def _one_visible(
    session: Session, principal: Principal, item: MeetingItem, invitee: str | None
) -> ItemRef | None:
    """The one meeting with ``item``'s identity the user may see (or, with ``invitee``, is on).

    An identity more than one UID-keyed meeting carries is ambiguous: None,
    whoever may see them, so the answer tells nothing about other calendars.
    """
    identity = meeting_identity(item)
    if identity is None:
        return None
    found = meetings_with_identity(session, identity)
    real = [m for m in found if not m.from_pane]
    if len(real) > 1:
        return None
    for candidate in real or found:
        ref = ItemRef(ItemKind.MEETING, candidate.id, item.subject)
        if can_access_item(session, principal, ref):
            return ref
        if invitee is not None and is_participant(session, ref, invitee):
            return ref
    return None


def onto_stored_meeting(session: Session, item: MeetingItem, meeting_id: int) -> MeetingItem:
    """``item`` keyed as the stored meeting, so storing it adds a copy there and not a row.

    What Office.js does not send (location, online meeting, recurrence, time
    zone, cancellation, sensitivity) is taken from the stored row, so the
    add-in's copy does not blank what the daemon brought.
    """
    row = session.execute(
        select(
            Meeting.uid,
            Meeting.recurrence_id,
            Meeting.timezone,
            Meeting.location,
            Meeting.online_meeting_url,
            Meeting.recurrence,
            Meeting.is_cancelled,
            Meeting.sensitivity,
        ).where(Meeting.id == meeting_id)
    ).one()
    return dataclasses.replace(
        item,
        uid=row.uid,
        recurrence_id=row.recurrence_id,
        timezone=row.timezone,
        location=item.location or row.location,
        online_meeting_url=item.online_meeting_url or row.online_meeting_url,
        recurrence=item.recurrence or row.recurrence,
        is_cancelled=row.is_cancelled,
        sensitivity=Sensitivity(row.sensitivity),
    )
