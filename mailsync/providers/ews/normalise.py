"""exchangelib items → provider-neutral items.

Each function takes one parsed item and returns an item or raises
``MalformedItem`` naming the field; the pagers file those as ``ItemFailure``
so one bad item never costs the page (invariant 6). exchangelib is lenient
(an unparsable date becomes None), so the checks here are what makes a
corrupt item visible: a message without DateTimeReceived, an SMTP mailbox
whose address has no ``@``.

Meeting keys match the Graph driver's: the iCalendar UID, and for an
occurrence or exception its original start in Graph's ``originalStart`` form,
so one meeting seen through Graph and through EWS is stored once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from exchangelib.extended_properties import ExtendedProperty
from exchangelib.items import CalendarItem, MeetingCancellation, MeetingRequest

from crm_store.items import Address, Attendee, MeetingItem, MessageItem, Sensitivity
from mailsync.providers.common import SENSITIVITY_WORDS, html_to_text, kept_header

RESPONSES = {
    "organizer": "organizer",
    "accept": "accepted",
    "tentative": "tentative",
    "decline": "declined",
    "noresponsereceived": "none",
    "unknown": "none",
}
OCCURRENCE_TYPES = frozenset({"Occurrence", "Exception"})


class MalformedItem(ValueError):
    """One item that cannot become a provider-neutral item; the message names the field."""


class CleanGlobalObjectId(ExtendedProperty):  # type: ignore[misc]
    """PidLidCleanGlobalObjectId: a meeting message's link to its meeting (the UID in hex).

    exchangelib's MeetingRequest has no UID field; Outlook's UID is this
    property's bytes in upper-case hex.
    """

    distinguished_property_set_id = "Meeting"
    property_id = 0x23
    property_type = "Binary"


GLOBAL_ID_FIELD = "clean_global_object_id"
for _cls in (MeetingRequest, MeetingCancellation):
    if GLOBAL_ID_FIELD not in {f.name for f in _cls.FIELDS}:
        _cls.register(GLOBAL_ID_FIELD, CleanGlobalObjectId)


def _address(mailbox: Any, field: str) -> Address | None:
    """A Mailbox as an Address; Exchange-internal (EX) routing without SMTP is dropped."""
    if mailbox is None:
        return None
    email = getattr(mailbox, "email_address", None)
    if not email:
        return None
    routing = (getattr(mailbox, "routing_type", None) or "SMTP").upper()
    if "@" not in email:
        if routing == "SMTP":
            raise MalformedItem(f"{field} has an invalid address {email!r}")
        return None
    return Address(email, getattr(mailbox, "name", None) or "")


def _addresses(values: Iterable[Any] | None, field: str) -> tuple[Address, ...]:
    found = (_address(v, field) for v in values or ())
    return tuple(a for a in found if a is not None)


def _sensitivity(value: str | None) -> Sensitivity:
    if not value:
        return Sensitivity.NORMAL
    try:
        return SENSITIVITY_WORDS[value.lower()]
    except KeyError:
        raise MalformedItem(f"unknown sensitivity {value!r}") from None


def _headers(item: Any) -> dict[str, str]:
    kept: dict[str, str] = {}
    for header in getattr(item, "headers", None) or ():
        found = kept_header(getattr(header, "name", None), getattr(header, "value", None))
        if found is not None:
            kept[found[0]] = found[1]
    return kept


def _utc(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        # A plain datetime: exchangelib's EWSDateTime only accepts its own time zones.
        if value.tzinfo is None:
            return datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)
        return datetime.fromtimestamp(value.timestamp(), UTC)
    if isinstance(value, date):  # an all-day item's date
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise MalformedItem(f"missing or unreadable {field}")


def _body_text(item: Any) -> str | None:
    body = getattr(item, "body", None)
    if not body:
        return None
    text = str(body)
    return html_to_text(text) if type(body).__name__ == "HTMLBody" else text


def message_from_ews(item: Any, folder: str) -> MessageItem:
    item_id = getattr(item, "id", None)
    if not item_id:
        raise MalformedItem("missing ItemId")
    if item.datetime_received is None:
        raise MalformedItem("missing or unreadable DateTimeReceived")
    headers = _headers(item)
    sender = _address(item.author, "From") or _address(item.sender, "Sender")
    conversation = getattr(item, "conversation_id", None)
    references = item.references or headers.get("references", "")
    return MessageItem(
        provider_item_id=item_id,
        folder=folder,
        internet_message_id=item.message_id or None,
        subject=item.subject or "",
        sent_at=_utc(item.datetime_sent, "DateTimeSent") if item.datetime_sent else None,
        received_at=_utc(item.datetime_received, "DateTimeReceived"),
        sender=sender,
        to=_addresses(item.to_recipients, "ToRecipients"),
        cc=_addresses(item.cc_recipients, "CcRecipients"),
        bcc=_addresses(item.bcc_recipients, "BccRecipients"),
        conversation_id=getattr(conversation, "id", None),
        in_reply_to=item.in_reply_to or headers.get("in-reply-to") or None,
        references=tuple(references.split()),
        sensitivity=_sensitivity(item.sensitivity),
        categories=tuple(item.categories or ()),
        headers=headers,
        has_attachments=bool(item.has_attachments),
    )


def _attendees(item: Any) -> tuple[Attendee, ...]:
    out: list[Attendee] = []
    for field, role in (
        ("required_attendees", "required"),
        ("optional_attendees", "optional"),
        ("resources", "resource"),
    ):
        for attendee in getattr(item, field, None) or ():
            address = _address(attendee.mailbox, field)
            if address is None:
                continue
            response = RESPONSES.get((attendee.response_type or "unknown").lower(), "none")
            out.append(Attendee(address.address, address.name, role, response))
    return tuple(out)


def recurrence_key(value: datetime) -> str:
    """An occurrence's original start in the form Graph's ``originalStart`` has."""
    return _utc(value, "OriginalStart").strftime("%Y-%m-%dT%H:%M:%SZ")


def meeting_from_ews(item: CalendarItem, folder: str) -> MeetingItem:
    item_id = getattr(item, "id", None)
    if not item_id:
        raise MalformedItem("missing ItemId")
    if not item.uid:
        raise MalformedItem("missing UID")
    start = _utc(item.start, "Start")
    end = _utc(item.end, "End")
    recurrence_id = None
    if item.type in OCCURRENCE_TYPES:
        original = item.original_start or item.recurrence_id
        recurrence_id = recurrence_key(_utc(original, "OriginalStart") if original else start)
    return MeetingItem(
        provider_item_id=item_id,
        folder=folder,
        uid=item.uid,
        subject=item.subject or "",
        start=start,
        end=end,
        timezone="UTC",
        organizer=_address(item.organizer, "Organizer"),
        attendees=_attendees(item),
        location=item.location or "",
        recurrence_id=recurrence_id,
        is_cancelled=bool(item.is_cancelled),
        sensitivity=_sensitivity(item.sensitivity),
        categories=tuple(item.categories or ()),
        body_text=_body_text(item),
    )


def meeting_from_request(item: Any, folder: str) -> MeetingItem:
    """A meeting request (or cancellation) in a mail folder, read as the meeting it is about."""
    item_id = getattr(item, "id", None)
    if not item_id:
        raise MalformedItem("missing ItemId")
    global_id = getattr(item, GLOBAL_ID_FIELD, None)
    if not global_id:
        raise MalformedItem("meeting message without PidLidCleanGlobalObjectId")
    recurrence_id = None
    if item.type in OCCURRENCE_TYPES and item.original_start:
        recurrence_id = recurrence_key(_utc(item.original_start, "OriginalStart"))
    return MeetingItem(
        provider_item_id=item_id,
        folder=folder,
        uid=bytes(global_id).hex().upper(),
        subject=item.subject or "",
        start=_utc(item.start, "Start"),
        end=_utc(item.end, "End"),
        timezone="UTC",
        organizer=_address(item.organizer, "Organizer") or _address(item.author, "From"),
        attendees=_attendees(item),
        location=item.location or "",
        recurrence_id=recurrence_id,
        is_cancelled=isinstance(item, MeetingCancellation) or bool(item.is_cancelled),
        sensitivity=_sensitivity(item.sensitivity),
        categories=tuple(item.categories or ()),
    )
