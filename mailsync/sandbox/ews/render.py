"""Item XML as GetItem and SyncFolderItems return it (types namespace, prefix ``t:``).

Properties are produced only when the request's shape asks for them
(``IdOnly`` plus ``AdditionalProperties``, or ``AllProperties``), and each is
rendered lazily so an IdOnly SyncFolderItems page costs next to nothing.
Values and element names follow the EWS reference (Exchange 2013+ schema):
dates in UTC with ``Z``, ``Mailbox`` with ``RoutingType`` SMTP, response types
``Accept``/``Tentative``/``Decline``/``NoResponseReceived``/``Organizer``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailsync.sandbox.calendarplan import MeetingSeries, Occurrence
from mailsync.sandbox.ews.soap import attr, text_element
from mailsync.sandbox.mailplan import Person, RenderedMessage
from mailsync.sandbox.mixing import mix

Field = tuple[str, Callable[[], str]]

RESPONSE_TYPES = {
    "accepted": "Accept",
    "tentative": "Tentative",
    "declined": "Decline",
    "none": "NoResponseReceived",
    "organizer": "Organizer",
}
SENSITIVITY = {
    "normal": "Normal",
    "personal": "Personal",
    "private": "Private",
    "confidential": "Confidential",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Shape:
    """What the request's ItemShape asks for: every property, or the named FieldURIs."""

    all_properties: bool
    field_uris: frozenset[str]

    def wants(self, field_uri: str) -> bool:
        return self.all_properties or field_uri in self.field_uris


def ews_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def change_key(*parts: int) -> str:
    return "CQAAABYAAAA" + f"{mix(*parts) & 0xFFFFFFFFFF:010x}"


def mailbox_xml(person: Person) -> str:
    return (
        "<t:Mailbox>"
        + text_element("Name", person.name)
        + text_element("EmailAddress", person.address)
        + "<t:RoutingType>SMTP</t:RoutingType><t:MailboxType>OneOff</t:MailboxType>"
        + "</t:Mailbox>"
    )


def _mailboxes(tag: str, people: Iterable[Person]) -> str:
    return f"<t:{tag}>{''.join(mailbox_xml(p) for p in people)}</t:{tag}>"


def _strings(tag: str, values: Iterable[str]) -> str:
    return f"<t:{tag}>{''.join(text_element('String', v) for v in values)}</t:{tag}>"


def _html(text: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
    return f'<html><head><meta charset="utf-8"></head><body>{paragraphs}</body></html>'


def _render(element: str, item_id: str, key: str, fields: list[Field], shape: Shape) -> str:
    parts = [f"<t:{element}><t:ItemId Id={attr(item_id)} ChangeKey={attr(key)}/>"]
    parts.extend(make() for uri, make in fields if shape.wants(uri))
    parts.append(f"</t:{element}>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class MessageCopy:
    """One mailbox's copy of a message: the shared message plus copy details."""

    message: RenderedMessage
    item_id: str
    parent_folder_id: str
    received_at: datetime
    categories: tuple[str, ...]
    is_read: bool
    version: int


def message_xml(copy: MessageCopy, shape: Shape, *, broken: int | None = None) -> str:
    """A ``t:Message``; ``broken`` selects one of the corruptions malformed items get."""
    msg = copy.message
    sender: Person = msg.sender
    sent_at: str = ews_time(msg.sent_at)
    received: str = ews_time(copy.received_at)
    to = msg.to
    if broken == 1:
        sender = Person("Undisclosed recipients", msg.sender.name)
    elif broken == 2:
        to = (*msg.to, Person("everyone at the office", "Everyone"))
    elif broken == 3:
        sent_at = received = "last tuesday"
    fields: list[Field] = [
        ("item:ParentFolderId", lambda: f"<t:ParentFolderId Id={attr(copy.parent_folder_id)}/>"),
        ("item:ItemClass", lambda: "<t:ItemClass>IPM.Note</t:ItemClass>"),
        ("item:Subject", lambda: text_element("Subject", msg.subject)),
        ("item:Sensitivity", lambda: text_element("Sensitivity", SENSITIVITY[msg.sensitivity])),
        (
            "item:Body",
            lambda: f'<t:Body BodyType="HTML">{html.escape(_html(msg.body_text))}</t:Body>',
        ),
        ("item:DateTimeReceived", lambda: text_element("DateTimeReceived", received)),
        ("item:Categories", lambda: _strings("Categories", copy.categories)),
        ("item:Importance", lambda: "<t:Importance>Normal</t:Importance>"),
        (
            "item:InReplyTo",
            lambda: text_element("InReplyTo", msg.in_reply_to) if msg.in_reply_to else "",
        ),
        (
            "item:InternetMessageHeaders",
            lambda: (
                "<t:InternetMessageHeaders>"
                + "".join(
                    f"<t:InternetMessageHeader HeaderName={attr(n)}>{html.escape(v)}"
                    "</t:InternetMessageHeader>"
                    for n, v in msg.headers
                )
                + "</t:InternetMessageHeaders>"
            ),
        ),
        ("item:DateTimeSent", lambda: text_element("DateTimeSent", sent_at)),
        ("item:DateTimeCreated", lambda: text_element("DateTimeCreated", received)),
        (
            "item:HasAttachments",
            lambda: text_element("HasAttachments", str(msg.has_attachments).lower()),
        ),
        ("item:ConversationId", lambda: f"<t:ConversationId Id={attr(msg.conversation_id)}/>"),
        (
            "item:TextBody",
            lambda: f'<t:TextBody BodyType="Text">{html.escape(msg.body_text)}</t:TextBody>',
        ),
        ("message:Sender", lambda: f"<t:Sender>{mailbox_xml(sender)}</t:Sender>"),
        ("message:ToRecipients", lambda: _mailboxes("ToRecipients", to)),
        ("message:CcRecipients", lambda: _mailboxes("CcRecipients", msg.cc) if msg.cc else ""),
        ("message:BccRecipients", lambda: ""),
        (
            "message:ConversationIndex",
            lambda: text_element("ConversationIndex", msg.conversation_index),
        ),
        ("message:ConversationTopic", lambda: text_element("ConversationTopic", msg.subject)),
        ("message:From", lambda: f"<t:From>{mailbox_xml(sender)}</t:From>"),
        (
            "message:InternetMessageId",
            lambda: text_element("InternetMessageId", msg.internet_message_id),
        ),
        ("message:IsRead", lambda: text_element("IsRead", str(copy.is_read).lower())),
        (
            "message:References",
            lambda: text_element("References", " ".join(msg.references)) if msg.references else "",
        ),
    ]
    key = change_key(copy.version, msg.ref, len(copy.categories))
    return _render("Message", copy.item_id, key, fields, shape)


@dataclass(frozen=True, slots=True)
class OccurrenceRef:
    """An occurrence as a master lists it (FirstOccurrence, ModifiedOccurrences...)."""

    item_id: str
    occurrence: Occurrence


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """A calendar item of one mailbox: a single meeting, a master, or one occurrence."""

    item_id: str
    mailbox_address: str
    series: MeetingSeries
    item_type: str  # Single | RecurringMaster | Occurrence | Exception
    shown: Occurrence  # the instance whose times and subject the item shows
    categories: tuple[str, ...]
    version: int
    first: OccurrenceRef | None = None
    last: OccurrenceRef | None = None
    modified: tuple[OccurrenceRef, ...] = ()
    deleted_starts: tuple[datetime, ...] = ()


def _attendees(tag: str, series: MeetingSeries, role: str) -> str:
    chosen = [a for a in series.attendees if a.role == role]
    if not chosen:
        return ""
    inner = "".join(
        f"<t:Attendee>{mailbox_xml(a.person)}"
        f"<t:ResponseType>{RESPONSE_TYPES.get(a.response, 'Unknown')}</t:ResponseType>"
        "</t:Attendee>"
        for a in chosen
    )
    return f"<t:{tag}>{inner}</t:{tag}>"


def _occurrence_xml(tag: str, ref: OccurrenceRef) -> str:
    occ = ref.occurrence
    original = occ.original_start or occ.start
    return (
        f"<t:{tag}><t:ItemId Id={attr(ref.item_id)} ChangeKey={attr(change_key(occ.ref))}/>"
        + text_element("Start", ews_time(occ.start))
        + text_element("End", ews_time(occ.end))
        + text_element("OriginalStart", ews_time(original))
        + f"</t:{tag}>"
    )


def _recurrence(series: MeetingSeries) -> str:
    day = WEEKDAYS[series.start.weekday()]
    return (
        "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>"
        f"<t:DaysOfWeek>{day}</t:DaysOfWeek><t:FirstDayOfWeek>Monday</t:FirstDayOfWeek>"
        "</t:WeeklyRecurrence><t:NumberedRecurrence>"
        f"<t:StartDate>{series.start.strftime('%Y-%m-%d')}Z</t:StartDate>"
        f"<t:NumberOfOccurrences>{series.occurrences}</t:NumberOfOccurrences>"
        "</t:NumberedRecurrence></t:Recurrence>"
    )


def _my_response(entry: CalendarEntry) -> str:
    if entry.series.organizer.address == entry.mailbox_address:
        return "Organizer"
    for a in entry.series.attendees:
        if a.person.address == entry.mailbox_address:
            return RESPONSE_TYPES.get(a.response, "Unknown")
    return "Unknown"


def calendar_item_xml(entry: CalendarEntry, shape: Shape) -> str:
    series, shown = entry.series, entry.shown
    is_master = entry.item_type == "RecurringMaster"
    recurring = series.occurrences > 1
    original = shown.original_start

    def body() -> str:
        content = html.escape(_html(f"{shown.subject}\n\nAgenda to follow."))
        return f'<t:Body BodyType="HTML">{content}</t:Body>'

    fields: list[Field] = [
        ("item:ItemClass", lambda: "<t:ItemClass>IPM.Appointment</t:ItemClass>"),
        ("item:Subject", lambda: text_element("Subject", shown.subject)),
        (
            "item:Sensitivity",
            lambda: text_element("Sensitivity", "Private" if series.kind == 4 else "Normal"),
        ),
        ("item:Body", body),
        ("item:Categories", lambda: _strings("Categories", entry.categories)),
        ("calendar:UID", lambda: text_element("UID", series.uid)),
        (
            "calendar:RecurrenceId",
            lambda: (
                text_element("RecurrenceId", ews_time(original))
                if original is not None and not is_master
                else ""
            ),
        ),
        ("calendar:Start", lambda: text_element("Start", ews_time(shown.start))),
        ("calendar:End", lambda: text_element("End", ews_time(shown.end))),
        (
            "calendar:OriginalStart",
            lambda: text_element("OriginalStart", ews_time(original or shown.start)),
        ),
        ("calendar:IsAllDayEvent", lambda: "<t:IsAllDayEvent>false</t:IsAllDayEvent>"),
        ("calendar:Location", lambda: text_element("Location", series.location)),
        ("calendar:IsMeeting", lambda: "<t:IsMeeting>true</t:IsMeeting>"),
        ("calendar:IsCancelled", lambda: text_element("IsCancelled", str(shown.cancelled).lower())),
        ("calendar:IsRecurring", lambda: text_element("IsRecurring", str(recurring).lower())),
        ("calendar:CalendarItemType", lambda: text_element("CalendarItemType", entry.item_type)),
        ("calendar:MyResponseType", lambda: text_element("MyResponseType", _my_response(entry))),
        (
            "calendar:Organizer",
            lambda: f"<t:Organizer>{mailbox_xml(series.organizer)}</t:Organizer>",
        ),
        ("calendar:RequiredAttendees", lambda: _attendees("RequiredAttendees", series, "required")),
        ("calendar:OptionalAttendees", lambda: _attendees("OptionalAttendees", series, "optional")),
        ("calendar:Recurrence", lambda: _recurrence(series) if is_master else ""),
        (
            "calendar:FirstOccurrence",
            lambda: _occurrence_xml("FirstOccurrence", entry.first) if entry.first else "",
        ),
        (
            "calendar:LastOccurrence",
            lambda: _occurrence_xml("LastOccurrence", entry.last) if entry.last else "",
        ),
        (
            "calendar:ModifiedOccurrences",
            lambda: (
                "<t:ModifiedOccurrences>"
                + "".join(_occurrence_xml("Occurrence", o) for o in entry.modified)
                + "</t:ModifiedOccurrences>"
                if entry.modified
                else ""
            ),
        ),
        (
            "calendar:DeletedOccurrences",
            lambda: (
                "<t:DeletedOccurrences>"
                + "".join(
                    "<t:DeletedOccurrence>"
                    + text_element("Start", ews_time(s))
                    + "</t:DeletedOccurrence>"
                    for s in entry.deleted_starts
                )
                + "</t:DeletedOccurrences>"
                if entry.deleted_starts
                else ""
            ),
        ),
    ]
    key = change_key(entry.version, shown.ref, len(entry.categories))
    return _render("CalendarItem", entry.item_id, key, fields, shape)


def meeting_request_xml(
    item_id: str, occurrence: Occurrence, mailbox: Person, received: datetime, shape: Shape
) -> str:
    """A ``t:MeetingRequest`` in an attendee's inbox (the invitation message)."""
    series = occurrence.series
    uid_bytes = bytes.fromhex(series.uid)
    global_id = base64.b64encode(uid_bytes).decode()
    fields: list[Field] = [
        ("item:ItemClass", lambda: "<t:ItemClass>IPM.Schedule.Meeting.Request</t:ItemClass>"),
        ("item:Subject", lambda: text_element("Subject", occurrence.subject)),
        ("item:Sensitivity", lambda: "<t:Sensitivity>Normal</t:Sensitivity>"),
        ("item:DateTimeReceived", lambda: text_element("DateTimeReceived", ews_time(received))),
        (
            "item:DateTimeSent",
            lambda: text_element("DateTimeSent", ews_time(received - timedelta(seconds=30))),
        ),
        ("message:From", lambda: f"<t:From>{mailbox_xml(series.organizer)}</t:From>"),
        ("message:ToRecipients", lambda: _mailboxes("ToRecipients", (mailbox,))),
        (
            "message:InternetMessageId",
            lambda: text_element(
                "InternetMessageId", f"<{series.uid[-16:]}.invite@sandbox.invalid>"
            ),
        ),
        ("calendar:Start", lambda: text_element("Start", ews_time(occurrence.start))),
        ("calendar:End", lambda: text_element("End", ews_time(occurrence.end))),
        ("calendar:Location", lambda: text_element("Location", series.location)),
        (
            "calendar:IsCancelled",
            lambda: text_element("IsCancelled", str(occurrence.cancelled).lower()),
        ),
        (
            "calendar:Organizer",
            lambda: f"<t:Organizer>{mailbox_xml(series.organizer)}</t:Organizer>",
        ),
        ("calendar:RequiredAttendees", lambda: _attendees("RequiredAttendees", series, "required")),
        ("calendar:OptionalAttendees", lambda: _attendees("OptionalAttendees", series, "optional")),
    ]
    extended = (
        "<t:ExtendedProperty><t:ExtendedFieldURI "
        'DistinguishedPropertySetId="Meeting" PropertyId="35" PropertyType="Binary"/>'
        f"<t:Value>{global_id}</t:Value></t:ExtendedProperty>"
    )
    xml = _render("MeetingRequest", item_id, change_key(occurrence.ref), fields, shape)
    return xml.replace("</t:MeetingRequest>", extended + "</t:MeetingRequest>")
