"""Who may read or change the links of a stored item.

A salesperson works on the items in their own mailbox, and on any item linked
to a record they own (their account, contact at their account, their deal).
A manager also sees the mailboxes of the people who report to them; an admin
sees everything. The check runs in a handful of indexed queries per request.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from crm_store.items import ItemKind, TargetKind
from crm_store.models import (
    Account,
    Contact,
    Link,
    Mailbox,
    Meeting,
    MeetingAttendee,
    MeetingCopy,
    MessageCopy,
    MessageParticipant,
    Opportunity,
    User,
)
from web.auth.principal import Principal
from web.errors import Forbidden
from web.item_store import ItemRef


def require_item_access(session: Session, principal: Principal, item: ItemRef) -> None:
    if not can_access_item(session, principal, item):
        raise Forbidden(
            f"{item.kind.value} {item.id} is not in your mailbox and not linked to a record you own"
        )


def can_access_item(session: Session, principal: Principal, item: ItemRef) -> bool:
    if principal.is_admin:
        return True
    return _in_visible_mailbox(session, principal, item) or _linked_to_owned_record(
        session, principal, item
    )


def _in_visible_mailbox(session: Session, principal: Principal, item: ItemRef) -> bool:
    if item.kind is ItemKind.MESSAGE:
        copy_mailbox, copy_item = MessageCopy.mailbox_id, MessageCopy.message_id
    else:
        copy_mailbox, copy_item = MeetingCopy.mailbox_id, MeetingCopy.meeting_id
    owner = aliased(User)
    mine = or_(Mailbox.owner_id == principal.user_id, Mailbox.address == principal.email.lower())
    visible = mine
    if principal.is_manager:
        visible = or_(mine, owner.manager_id == principal.user_id)
    statement = (
        select(copy_mailbox)
        .join(Mailbox, Mailbox.id == copy_mailbox)
        .outerjoin(owner, owner.id == Mailbox.owner_id)
        .where(copy_item == item.id, visible)
        .limit(1)
    )
    return session.execute(statement).first() is not None


def _linked_to_owned_record(session: Session, principal: Principal, item: ItemRef) -> bool:
    uid = principal.user_id
    contact_account = aliased(Account)
    owned = or_(
        and_(
            Link.target_kind == TargetKind.ACCOUNT.value,
            exists().where(Account.id == Link.target_id, Account.owner_id == uid),
        ),
        and_(
            Link.target_kind == TargetKind.OPPORTUNITY.value,
            exists().where(Opportunity.id == Link.target_id, Opportunity.owner_id == uid),
        ),
        and_(
            Link.target_kind == TargetKind.CONTACT.value,
            exists().where(
                Contact.id == Link.target_id,
                contact_account.id == Contact.account_id,
                contact_account.owner_id == uid,
            ),
        ),
    )
    statement = (
        select(Link.id)
        .where(Link.item_kind == item.kind.value, Link.item_id == item.id, owned)
        .limit(1)
    )
    return session.execute(statement).first() is not None


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
