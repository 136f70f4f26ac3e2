"""Graph v1.0 JSON shapes of messages, events and folders.

Only the properties asked for with ``$select`` are produced (``id`` always),
and the expensive ones (body, headers) are not even rendered otherwise. As in
Graph, ``internetMessageHeaders`` appear only when selected. Messages have no
``sensitivity`` property in Graph v1.0: it is visible through the
``Sensitivity`` header and through
``$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0036')``.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timedelta
from typing import Any

from mailsync.sandbox.calendarplan import CALENDAR, Occurrence, format_original_start
from mailsync.sandbox.mailplan import MAIL_FOLDERS, Person, RenderedMessage
from mailsync.sandbox.mixing import mix

FOLDER_NAMES = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "archive": "Archive",
    "deleteditems": "Deleted Items",
    CALENDAR: "Calendar",
}
_SENSITIVITY_CODES = {"normal": "0", "personal": "1", "private": "2", "confidential": "3"}


def folder_id(seed: int, mailbox: int, folder: str) -> str:
    raw = mix(seed, 0xF0, mailbox, ALL_KNOWN.index(folder)).to_bytes(8, "big")
    return "AQMkAD" + base64.urlsafe_b64encode(raw * 2).decode().rstrip("=")


ALL_KNOWN = (*MAIL_FOLDERS, CALENDAR)


def graph_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_time(value: datetime) -> dict[str, str]:
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _address(person: Person) -> dict[str, Any]:
    return {"emailAddress": {"name": person.name, "address": person.address}}


def _html(text: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
    return f'<html><head><meta charset="utf-8"></head><body>{paragraphs}</body></html>'


def message_json(
    message: RenderedMessage,
    *,
    item_id: str,
    parent_folder_id: str,
    received_at: datetime,
    categories: tuple[str, ...],
    is_read: bool,
    select: frozenset[str] | None,
    expand_sensitivity: bool,
    body_as_text: bool = False,
) -> dict[str, Any]:
    def wanted(name: str) -> bool:
        return select is None or name in select

    modified = graph_time(received_at + timedelta(minutes=1))
    out: dict[str, Any] = {
        "@odata.etag": f'W/"CQAAABYAAAA{mix(len(categories), message.ref) & 0xFFFFFF:06x}"'
    }
    simple: dict[str, Any] = {
        "createdDateTime": graph_time(received_at),
        "lastModifiedDateTime": modified,
        "changeKey": f"CQAAABYAAAA{mix(len(categories), message.ref) & 0xFFFFFF:06x}",
        "categories": list(categories),
        "receivedDateTime": graph_time(received_at),
        "sentDateTime": graph_time(message.sent_at),
        "hasAttachments": message.has_attachments,
        "internetMessageId": message.internet_message_id,
        "subject": message.subject,
        "importance": "normal",
        "parentFolderId": parent_folder_id,
        "conversationId": message.conversation_id,
        "conversationIndex": message.conversation_index,
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": is_read,
        "isDraft": False,
        "inferenceClassification": "focused",
        "flag": {"flagStatus": "notFlagged"},
    }
    for key, value in simple.items():
        if wanted(key):
            out[key] = value
    out["id"] = item_id
    if wanted("bodyPreview"):
        out["bodyPreview"] = message.body_text[:255]
    if wanted("webLink"):
        out["webLink"] = (
            f"https://outlook.office365.com/owa/?ItemID={item_id}&viewmodel=ReadMessageItem"
        )
    if wanted("body"):
        if body_as_text:
            out["body"] = {"contentType": "text", "content": message.body_text}
        else:
            out["body"] = {"contentType": "html", "content": _html(message.body_text)}
    if wanted("uniqueBody"):
        out["uniqueBody"] = {
            "contentType": "text",
            "content": message.body_text.split("\n\nFrom:")[0],
        }
    if wanted("sender"):
        out["sender"] = _address(message.sender)
    if wanted("from"):
        out["from"] = _address(message.sender)
    if wanted("toRecipients"):
        out["toRecipients"] = [_address(p) for p in message.to]
    if wanted("ccRecipients"):
        out["ccRecipients"] = [_address(p) for p in message.cc]
    if wanted("bccRecipients"):
        out["bccRecipients"] = []
    if wanted("replyTo"):
        out["replyTo"] = []
    if select is not None and "internetMessageHeaders" in select:
        out["internetMessageHeaders"] = [{"name": n, "value": v} for n, v in message.headers]
    if expand_sensitivity:
        out["singleValueExtendedProperties"] = [
            {"id": "Integer 0x36", "value": _SENSITIVITY_CODES[message.sensitivity]}
        ]
    return out


def corrupt(item: dict[str, Any], ref: int) -> dict[str, Any]:
    """A malformed item: the id survives (so it can be reported), a field breaks."""
    variant = mix(ref, 0xBAD) % 4
    broken = dict(item)
    if variant == 0:
        broken["receivedDateTime"] = "last tuesday"
        broken["sentDateTime"] = 17
    elif variant == 1:
        broken["toRecipients"] = "everyone@example.invalid"
    elif variant == 2:
        broken["from"] = {"emailAddress": 42}
        broken["sender"] = None
    else:
        broken["subject"] = ["not", "a", "string"]
        broken["internetMessageId"] = {"oops": True}
    return broken


def event_json(
    occurrence: Occurrence,
    *,
    item_id: str,
    master_id: str,
    mailbox_address: str,
    created: datetime,
    categories: tuple[str, ...],
) -> dict[str, Any]:
    series = occurrence.series
    is_organizer = series.organizer.address == mailbox_address
    response = "organizer" if is_organizer else "none"
    attendees = []
    for attendance in series.attendees:
        if attendance.person.address == mailbox_address and not is_organizer:
            response = attendance.response
        attendees.append(
            {
                "type": attendance.role,
                "status": {"response": attendance.response, "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {
                    "name": attendance.person.name,
                    "address": attendance.person.address,
                },
            }
        )
    ical = (
        series.uid if occurrence.original_start is None else (f"{series.uid}{occurrence.index:04d}")
    )
    out: dict[str, Any] = {
        "@odata.etag": f'W/"DwAAABYAAAA{mix(occurrence.ref, len(categories)) & 0xFFFFFF:06x}"',
        "id": item_id,
        "createdDateTime": graph_time(created),
        "lastModifiedDateTime": graph_time(created),
        "categories": list(categories),
        "originalStartTimeZone": "UTC",
        "originalEndTimeZone": "UTC",
        "iCalUId": ical,
        "uid": series.uid,
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": occurrence.subject,
        "bodyPreview": f"{occurrence.subject} with {len(series.attendees)} attendees",
        "importance": "normal",
        "sensitivity": "private" if series.kind == 4 else "normal",
        "isAllDay": False,
        "isCancelled": occurrence.cancelled,
        "isOrganizer": is_organizer,
        "responseRequested": True,
        "seriesMasterId": master_id if occurrence.original_start is not None else None,
        "showAs": "busy",
        "type": occurrence.type,
        "webLink": f"https://outlook.office365.com/owa/?itemid={item_id}&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": series.online_url is not None,
        "onlineMeetingProvider": "teamsForBusiness" if series.online_url else "unknown",
        "responseStatus": {"response": response, "time": "0001-01-01T00:00:00Z"},
        "body": {
            "contentType": "html",
            "content": _html(f"{occurrence.subject}\n\nAgenda to follow."),
        },
        "start": event_time(occurrence.start),
        "end": event_time(occurrence.end),
        "location": {"displayName": series.location, "locationType": "default"},
        "locations": [{"displayName": series.location}],
        "recurrence": None,
        "attendees": attendees,
        "organizer": {
            "emailAddress": {"name": series.organizer.name, "address": series.organizer.address}
        },
        "onlineMeeting": {"joinUrl": series.online_url} if series.online_url else None,
    }
    if occurrence.original_start is not None:
        out["originalStart"] = format_original_start(occurrence.original_start)
    return out


def folder_json(seed: int, mailbox: int, folder: str, total: int) -> dict[str, Any]:
    return {
        "id": folder_id(seed, mailbox, folder),
        "displayName": FOLDER_NAMES[folder],
        "parentFolderId": "AQMkADAwATM0MDAAMS1iNQ",
        "childFolderCount": 0,
        "unreadItemCount": 0,
        "totalItemCount": total,
        "isHidden": False,
    }
