"""Graph JSON → provider-neutral items.

Each function takes one JSON object and either returns an item or raises
``MalformedItem``; ``split_page`` applies them to a page and files every
malformed entry as an ``ItemFailure`` so one bad item never costs the page
(invariant 6).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_store.items import (
    Address,
    Attendee,
    CorrespondenceItem,
    ItemKind,
    MeetingItem,
    MessageItem,
    Removal,
    Sensitivity,
)
from mailsync.providers.base import ItemFailure
from mailsync.providers.common import SENSITIVITY_WORDS, html_to_text, kept_header

MESSAGE_SELECT = ",".join(
    [
        "id",
        "internetMessageId",
        "conversationId",
        "subject",
        "sentDateTime",
        "receivedDateTime",
        "from",
        "toRecipients",
        "ccRecipients",
        "bccRecipients",
        "categories",
        "hasAttachments",
        "internetMessageHeaders",
    ]
)

# PidTagSensitivity (MAPI 0x0036): Graph v1.0 messages have no sensitivity property,
# and a Sent Items copy has no MIME headers, so the extended property is the one
# source that covers every copy.
SENSITIVITY_EXPAND = "singleValueExtendedProperties($filter=id eq 'Integer 0x0036')"
SENSITIVITY_CODES = {
    0: Sensitivity.NORMAL,
    1: Sensitivity.PERSONAL,
    2: Sensitivity.PRIVATE,
    3: Sensitivity.CONFIDENTIAL,
}

RESPONSES = {
    "none": "none",
    "notresponded": "none",
    "organizer": "organizer",
    "accepted": "accepted",
    "tentativelyaccepted": "tentative",
    "declined": "declined",
}


class MalformedItem(ValueError):
    """One JSON item that cannot become an item; the message names the field."""


def _str(raw: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise MalformedItem(f"missing {key}")
        return None
    if not isinstance(value, str):
        raise MalformedItem(f"{key} is {type(value).__name__}, expected a string")
    return value


def _datetime(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedItem(f"{field} is {type(value).__name__}, expected an ISO date-time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedItem(f"{field} {value!r} is not an ISO date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _address(raw: Any, field: str) -> Address | None:
    """A Graph recipient; one without an address (e.g. a bare display name) is dropped."""
    if not isinstance(raw, dict) or not isinstance(raw.get("emailAddress"), dict):
        raise MalformedItem(f"{field} is not a recipient object")
    email = raw["emailAddress"]
    address = email.get("address")
    if address is None or address == "":
        return None
    if not isinstance(address, str) or "@" not in address:
        raise MalformedItem(f"{field} has an invalid address {address!r}")
    name = email.get("name") or ""
    return Address(address, name if isinstance(name, str) else "")


def _addresses(raw: dict[str, Any], key: str) -> tuple[Address, ...]:
    values = raw.get(key) or []
    if not isinstance(values, list):
        raise MalformedItem(f"{key} is not a list")
    found = (_address(v, key) for v in values)
    return tuple(a for a in found if a is not None)


def _strings(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    values = raw.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise MalformedItem(f"{key} is not a list of strings")
    return tuple(values)


def _headers(raw: dict[str, Any]) -> dict[str, str]:
    values = raw.get("internetMessageHeaders") or []
    if not isinstance(values, list):
        raise MalformedItem("internetMessageHeaders is not a list")
    kept: dict[str, str] = {}
    for header in values:
        if not isinstance(header, dict):
            raise MalformedItem("internetMessageHeaders holds a non-object")
        found = kept_header(header.get("name"), header.get("value"))
        if found is not None:
            kept[found[0]] = found[1]
    return kept


def _sensitivity(value: str | None) -> Sensitivity:
    if not value:
        return Sensitivity.NORMAL
    try:
        return SENSITIVITY_WORDS[value.strip().lower()]
    except KeyError:
        raise MalformedItem(f"unknown sensitivity {value!r}") from None


def _extended_sensitivity(raw: dict[str, Any]) -> Sensitivity | None:
    props = raw.get("singleValueExtendedProperties") or []
    if not isinstance(props, list):
        raise MalformedItem("singleValueExtendedProperties is not a list")
    for prop in props:
        if not isinstance(prop, dict):
            raise MalformedItem("singleValueExtendedProperties holds a non-object")
        kind, _, tag = str(prop.get("id", "")).partition(" ")
        if kind.lower() != "integer":
            continue
        try:
            if int(tag, 16) != 0x36:
                continue
            return SENSITIVITY_CODES[int(str(prop.get("value")))]
        except (ValueError, KeyError):
            raise MalformedItem(f"sensitivity property {prop!r} is not 0-3") from None
    return None


def message_from_graph(raw: dict[str, Any], folder: str) -> MessageItem:
    item_id = _str(raw, "id", required=True)
    assert item_id is not None
    headers = _headers(raw)
    sensitivity = _extended_sensitivity(raw) or _sensitivity(
        _str(raw, "sensitivity") or headers.get("sensitivity")
    )
    sender = None
    if raw.get("from") is not None:
        sender = _address(raw["from"], "from")
    in_reply_to = headers.get("in-reply-to") or None
    has_attachments = raw.get("hasAttachments", False)
    if not isinstance(has_attachments, bool):
        raise MalformedItem("hasAttachments is not a boolean")
    return MessageItem(
        provider_item_id=item_id,
        folder=folder,
        internet_message_id=_str(raw, "internetMessageId"),
        subject=_str(raw, "subject") or "",
        sent_at=_datetime(raw.get("sentDateTime"), "sentDateTime"),
        received_at=_datetime(raw.get("receivedDateTime"), "receivedDateTime"),
        sender=sender,
        to=_addresses(raw, "toRecipients"),
        cc=_addresses(raw, "ccRecipients"),
        bcc=_addresses(raw, "bccRecipients"),
        conversation_id=_str(raw, "conversationId"),
        in_reply_to=in_reply_to,
        references=tuple(headers.get("references", "").split()),
        sensitivity=sensitivity,
        categories=_strings(raw, "categories"),
        headers=headers,
        has_attachments=has_attachments,
    )


def _event_time(raw: dict[str, Any], key: str) -> tuple[datetime, str]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise MalformedItem(f"missing {key}")
    when = _datetime(value.get("dateTime"), f"{key}.dateTime")
    if when is None:
        raise MalformedItem(f"missing {key}.dateTime")
    zone_name = value.get("timeZone") or "UTC"
    if not isinstance(zone_name, str):
        raise MalformedItem(f"{key}.timeZone is not a string")
    if zone_name.upper() != "UTC" and when.utcoffset() == UTC.utcoffset(None):
        try:
            when = when.replace(tzinfo=ZoneInfo(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise MalformedItem(f"{key}.timeZone {zone_name!r} is unknown") from None
    return when.astimezone(UTC), zone_name


def _attendee(raw: Any) -> Attendee | None:
    if not isinstance(raw, dict):
        raise MalformedItem("attendee is not an object")
    address = _address(raw, "attendees")
    if address is None:
        return None
    status = raw.get("status") or {}
    response = status.get("response", "none") if isinstance(status, dict) else "none"
    role = raw.get("type") or "required"
    return Attendee(
        address=address.address,
        name=address.name,
        role=role if role in {"required", "optional", "resource"} else "required",
        response=RESPONSES.get(str(response).lower(), "none"),
    )


def meeting_from_graph(raw: dict[str, Any], folder: str) -> MeetingItem:
    item_id = _str(raw, "id", required=True)
    assert item_id is not None
    uid = _str(raw, "uid") or _str(raw, "iCalUId", required=True)
    assert uid is not None
    start, zone = _event_time(raw, "start")
    end, _ = _event_time(raw, "end")
    kind = _str(raw, "type") or "singleInstance"
    recurrence_id = None
    if kind in {"occurrence", "exception"}:
        original = _datetime(raw.get("originalStart"), "originalStart")
        # Graph's own originalStart form, so the key reads like what Graph shows.
        recurrence_id = (original or start).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    attendees_raw = raw.get("attendees") or []
    if not isinstance(attendees_raw, list):
        raise MalformedItem("attendees is not a list")
    attendees = tuple(a for a in (_attendee(x) for x in attendees_raw) if a is not None)
    organizer = _address(raw["organizer"], "organizer") if raw.get("organizer") else None
    location = raw.get("location") or {}
    online = raw.get("onlineMeeting") or {}
    recurrence = raw.get("recurrence")
    body = raw.get("body") or {}
    return MeetingItem(
        provider_item_id=item_id,
        folder=folder,
        uid=uid,
        subject=_str(raw, "subject") or "",
        start=start,
        end=end,
        timezone=zone,
        organizer=organizer,
        attendees=attendees,
        location=str(location.get("displayName") or "") if isinstance(location, dict) else "",
        online_meeting_url=(online.get("joinUrl") if isinstance(online, dict) else None)
        or _str(raw, "onlineMeetingUrl"),
        recurrence_id=recurrence_id,
        recurrence=json.dumps(recurrence, sort_keys=True) if recurrence else None,
        is_cancelled=bool(raw.get("isCancelled", False)),
        sensitivity=_sensitivity(_str(raw, "sensitivity")),
        categories=_strings(raw, "categories"),
        body_text=body_to_text(body) if isinstance(body, dict) else None,
    )


def _failure_id(raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
        return str(raw["id"])
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    return f"unidentified:{digest[:32]}"


def split_page(
    values: Iterable[Any],
    folder: str,
    kind: ItemKind,
) -> tuple[list[CorrespondenceItem], list[Removal], list[ItemFailure]]:
    """Upserts, removals and failures of one page, in page order."""
    convert: Callable[[dict[str, Any], str], CorrespondenceItem] = (
        message_from_graph if kind is ItemKind.MESSAGE else meeting_from_graph
    )
    upserts: list[CorrespondenceItem] = []
    removals: list[Removal] = []
    failures: list[ItemFailure] = []
    for raw in values:
        try:
            if not isinstance(raw, dict):
                raise MalformedItem(f"page entry is {type(raw).__name__}, not an object")
            if "@removed" in raw:
                item_id = _str(raw, "id", required=True)
                assert item_id is not None
                removals.append(Removal(item_id, folder, kind))
            else:
                upserts.append(convert(raw, folder))
        except (MalformedItem, KeyError, TypeError, AttributeError, ValueError) as exc:
            failures.append(
                ItemFailure(
                    provider_item_id=_failure_id(raw),
                    folder=folder,
                    error=f"{type(exc).__name__}: {exc}",
                    raw_excerpt=json.dumps(raw, default=str)[:500],
                )
            )
    return upserts, removals, failures


def body_to_text(body: dict[str, Any]) -> str | None:
    content = body.get("content")
    if not isinstance(content, str) or not content:
        return None
    if str(body.get("contentType", "html")).lower() == "text":
        return content
    return html_to_text(content)


def body_pair(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(text, html) of a Graph ``body``; html only when the message has one."""
    content = body.get("content")
    if not isinstance(content, str) or not content:
        return None, None
    if str(body.get("contentType", "html")).lower() == "text":
        return content, None
    return html_to_text(content), content
