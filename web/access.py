"""The add-in API's item checks: the access policy applied to a signed-in user.

Who may see or change what is decided in one place, ``crm_store.visibility``
(the same policy the manager pages apply); this module only turns its answer
into the API's 403.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.items import ItemKind
from crm_store.models import Meeting, MeetingAttendee, MessageParticipant
from crm_store.visibility import may_work_on_item
from web.auth.principal import Principal
from web.errors import Forbidden
from web.item_store import ItemRef


def require_item_access(session: Session, principal: Principal, item: ItemRef) -> None:
    if not can_access_item(session, principal, item):
        raise Forbidden(
            f"{item.kind.value} {item.id} is not in your mailbox and not linked to a record you own"
        )


def can_access_item(session: Session, principal: Principal, item: ItemRef) -> bool:
    return may_work_on_item(session, principal.viewer, item.kind, item.id)


def is_participant(session: Session, item: ItemRef, address: str) -> bool:
    """Whether the stored item names ``address`` as sender, recipient, organizer or attendee.

    Lets a user add their own copy of an item someone else's mailbox already
    brought in: the stored participants, not the caller's claims, decide.
    """
    wanted = address.strip().lower()
    if item.kind is ItemKind.MESSAGE:
        statement = select(MessageParticipant.id).where(
            MessageParticipant.message_id == item.id, MessageParticipant.address == wanted
        )
    else:
        statement = select(MeetingAttendee.id).where(
            MeetingAttendee.meeting_id == item.id, MeetingAttendee.address == wanted
        )
        if session.execute(statement.limit(1)).first() is None:
            statement = select(Meeting.id).where(
                Meeting.id == item.id, Meeting.organizer_address == wanted
            )
    return session.execute(statement.limit(1)).first() is not None
