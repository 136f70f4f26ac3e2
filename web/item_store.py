"""Find stored items by the ids the add-in knows, and store an item the daemon has not seen.

An item the add-in sends is stored through the sync path's own write
(``apply_page``) as a copy in the user's mailbox, folder ``addin``: same
message key (internetMessageId) as the daemon will compute, so the daemon's
copy, from this mailbox or any other, lands on the same message row. The
add-in's item id is an EWS/REST id, not the immutable id the daemon uses, so
the daemon's copy of the same mailbox is a second copy row in its real folder;
the ``addin`` copy only records that this user tagged it. A message stored by
the send handler has no Message-ID yet (Office.js cannot read a draft's), so
it is keyed by the fallback hash; the daemon's sync of the sender's Sent Items
folds it into the row of the real Message-ID (``crm_store.message_merge``).

A meeting is the exception: Office.js gives no iCalendar UID, so a meeting is
stored under its Exchange item id (``crm_store.meeting_merge.pane_key``) and
merged with the daemon's UID-keyed row by natural identity, by the sync when
the daemon comes later and by ``web.meeting_match`` when it came first.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import HeaderParser

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_store.items import (
    ADDIN_FOLDER,
    Address,
    Attendee,
    CorrespondenceItem,
    Direction,
    ItemKind,
    LinkSpec,
    MeetingItem,
    MessageItem,
)
from crm_store.meeting_merge import pane_key
from crm_store.models import Mailbox, Meeting, MeetingCopy, Message, MessageCopy
from crm_store.sync_writes import PageWrite, apply_page
from web.auth.principal import Principal
from web.errors import Forbidden
from web.schemas.items import ItemSelector, ItemSnapshot, PersonIn


@dataclass(frozen=True, slots=True)
class ItemRef:
    kind: ItemKind
    id: int
    subject: str


def find_item(
    session: Session, selector: ItemSelector, principal: Principal | None = None
) -> ItemRef | None:
    """The stored item the selector names, or None.

    An Exchange item id is only unique within a mailbox, and the copies' index
    leads with the mailbox: with ``principal`` the id is looked up in that
    user's own mailboxes (where the add-in's ids come from) through the index.
    """
    if selector.internet_message_id:
        row = session.execute(
            select(Message.id, Message.subject).where(
                Message.message_key == selector.internet_message_id.strip()
            )
        ).first()
        return None if row is None else ItemRef(ItemKind.MESSAGE, int(row.id), row.subject)
    if selector.i_cal_uid:
        key = selector.i_cal_uid.strip()
        if selector.recurrence_id:
            key = f"{key}#{selector.recurrence_id.strip()}"
        row = session.execute(
            select(Meeting.id, Meeting.subject).where(Meeting.meeting_key == key)
        ).first()
        return None if row is None else ItemRef(ItemKind.MEETING, int(row.id), row.subject)
    item_id = (selector.item_id or "").strip()
    message_copy = select(Message.id, Message.subject).join(
        MessageCopy, MessageCopy.message_id == Message.id
    )
    meeting_copy = select(Meeting.id, Meeting.subject).join(
        MeetingCopy, MeetingCopy.meeting_id == Meeting.id
    )
    if principal is not None:
        own = select(Mailbox.id).where(
            or_(Mailbox.owner_id == principal.user_id, Mailbox.address == principal.email)
        )
        message_copy = message_copy.where(MessageCopy.mailbox_id.in_(own))
        meeting_copy = meeting_copy.where(MeetingCopy.mailbox_id.in_(own))
    message = session.execute(
        message_copy.where(MessageCopy.provider_item_id == item_id).limit(1)
    ).first()
    if message is not None:
        return ItemRef(ItemKind.MESSAGE, int(message.id), message.subject)
    meeting = session.execute(
        meeting_copy.where(MeetingCopy.provider_item_id == item_id).limit(1)
    ).first()
    return None if meeting is None else ItemRef(ItemKind.MEETING, int(meeting.id), meeting.subject)


def selector_of(snapshot: ItemSnapshot) -> ItemSelector:
    """How the snapshot's item will be keyed once stored."""
    if snapshot.kind is ItemKind.MESSAGE and snapshot.internet_message_id:
        return ItemSelector(internet_message_id=snapshot.internet_message_id)
    if snapshot.kind is ItemKind.MEETING and snapshot.i_cal_uid:
        return ItemSelector(i_cal_uid=snapshot.i_cal_uid)
    return ItemSelector(item_id=provider_id(snapshot))


def provider_id(snapshot: ItemSnapshot) -> str:
    return snapshot.rest_item_id or snapshot.item_id


def mailbox_for(session: Session, principal: Principal, address: str | None) -> Mailbox:
    """The user's own mailbox row; registered (disabled) if the daemon does not sync it."""
    wanted = (address or principal.email).strip().lower()
    row = session.execute(select(Mailbox).where(Mailbox.address == wanted)).scalar_one_or_none()
    if row is not None:
        mine = wanted == principal.email.lower() or row.owner_id == principal.user_id
        if not mine and not principal.is_admin:
            raise Forbidden(f"mailbox {wanted} belongs to another user")
        return row
    if wanted != principal.email.lower() and not principal.is_admin:
        raise Forbidden(f"mailbox {wanted} is not yours; the add-in sends from your own mailbox")
    row = Mailbox(
        address=wanted,
        provider="graph",
        enabled=False,
        tracking_policy="manual",
        owner_id=principal.user_id,
        sync_status="disabled",
        consecutive_failures=0,
    )
    session.add(row)
    session.flush()
    return row


def to_item(snapshot: ItemSnapshot) -> CorrespondenceItem:
    if snapshot.kind is ItemKind.MEETING:
        return _meeting(snapshot)
    return _message(snapshot)


def _address(person: PersonIn) -> Address:
    return Address(person.address, person.name)


def _message(snapshot: ItemSnapshot) -> MessageItem:
    headers = _parse_headers(snapshot.headers)
    message_id = snapshot.internet_message_id or headers.get("message-id") or None
    references = tuple(headers.get("references", "").split())
    in_reply_to = headers.get("in-reply-to", "").strip() or None
    return MessageItem(
        provider_item_id=provider_id(snapshot),
        folder=ADDIN_FOLDER,
        internet_message_id=message_id.strip() if message_id else None,
        subject=snapshot.subject,
        sent_at=snapshot.sent_at,
        sender=_address(snapshot.sender) if snapshot.sender else None,
        to=tuple(_address(p) for p in snapshot.to),
        cc=tuple(_address(p) for p in snapshot.cc),
        bcc=tuple(_address(p) for p in snapshot.bcc),
        conversation_id=snapshot.conversation_id,
        in_reply_to=in_reply_to,
        references=references,
        headers=headers,
        body_text=snapshot.body,
        direction=Direction.UNKNOWN,
    )


def _meeting(snapshot: ItemSnapshot) -> MeetingItem:
    if snapshot.start is None or snapshot.end is None:
        raise ValueError("a meeting snapshot needs start and end")  # the schema checks first
    attendees = [
        *(Attendee(p.address, p.name, "required") for p in snapshot.required_attendees),
        *(Attendee(p.address, p.name, "optional") for p in snapshot.optional_attendees),
    ]
    return MeetingItem(
        provider_item_id=provider_id(snapshot),
        folder=ADDIN_FOLDER,
        uid=snapshot.i_cal_uid.strip() if snapshot.i_cal_uid else pane_key(provider_id(snapshot)),
        subject=snapshot.subject,
        start=snapshot.start,
        end=snapshot.end,
        organizer=_address(snapshot.organizer) if snapshot.organizer else None,
        attendees=tuple(attendees),
        body_text=snapshot.body,
    )


def _parse_headers(raw: str | None) -> dict[str, str]:
    """Internet headers as one string (getAllInternetHeadersAsync) → the ones we thread by."""
    if not raw:
        return {}
    parsed = HeaderParser().parsestr(raw, headersonly=True)
    wanted = ("message-id", "in-reply-to", "references", "list-id", "auto-submitted", "precedence")
    found: dict[str, str] = {}
    for name in wanted:
        value = parsed.get(name)
        if value is not None:
            found[name] = " ".join(str(value).split())
    return found


def store_item(
    session: Session,
    mailbox: Mailbox,
    item: CorrespondenceItem,
    links: tuple[LinkSpec, ...] = (),
) -> ItemRef:
    """Store ``item`` as tracked (a person asked for it), with rule ``links`` if any."""
    key = item.message_key if isinstance(item, MessageItem) else item.meeting_key
    page = PageWrite(
        folder=ADDIN_FOLDER,
        messages=[item] if isinstance(item, MessageItem) else [],
        meetings=[item] if isinstance(item, MeetingItem) else [],
        links={key: links} if links else {},
        tracked_keys=frozenset({key}),
    )
    result = apply_page(session, mailbox.id, page)
    if isinstance(item, MessageItem):
        return ItemRef(ItemKind.MESSAGE, result.message_ids[key], item.subject)
    return ItemRef(ItemKind.MEETING, result.meeting_ids[key], item.subject)


def participant_addresses(snapshot: ItemSnapshot) -> set[str]:
    people = [
        snapshot.sender,
        snapshot.organizer,
        *snapshot.to,
        *snapshot.cc,
        *snapshot.bcc,
        *snapshot.required_attendees,
        *snapshot.optional_attendees,
    ]
    return {p.address for p in people if p is not None}
