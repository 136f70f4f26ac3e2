"""iCalendar (.ics, or a text/calendar part of a message) → MeetingItem per VEVENT."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from icalendar import Calendar

from crm_store.items import Address, Attendee, MeetingItem, Sensitivity
from mailsync.ingest.results import IMPORTED_FOLDER, FileError

_ROLES = {
    "REQ-PARTICIPANT": "required",
    "CHAIR": "required",
    "OPT-PARTICIPANT": "optional",
    "NON-PARTICIPANT": "optional",
}
_RESPONSES = {"ACCEPTED": "accepted", "TENTATIVE": "tentative", "DECLINED": "declined"}
_CLASSES = {"PRIVATE": Sensitivity.PRIVATE, "CONFIDENTIAL": Sensitivity.CONFIDENTIAL}
_ONLINE_KEYS = (
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
    "X-GOOGLE-CONFERENCE",
    "URL",
)


def parse_ics_bytes(
    data: bytes, source: str, fallback_organizer: Address | None = None
) -> list[MeetingItem] | FileError:
    """Every event of a calendar; one bad event makes the whole file an error.

    ``fallback_organizer`` is the sender of the message carrying an invitation,
    used when the event names no organizer.
    """
    if not data.strip():
        return FileError(source, "empty calendar")
    try:
        calendar = Calendar.from_ical(data)
    except ValueError as exc:
        return FileError(source, f"not valid iCalendar: {exc}")
    method = str(calendar.get("METHOD", "")).upper()
    events = calendar.walk("VEVENT")
    if not events:
        return FileError(source, "no VEVENT in the calendar")
    meetings: list[MeetingItem] = []
    for number, event in enumerate(events, start=1):
        meeting = _meeting(event, method, fallback_organizer)
        if isinstance(meeting, str):
            return FileError(source, f"event #{number}: {meeting}")
        meetings.append(meeting)
    return meetings


def _meeting(event: Any, method: str, fallback_organizer: Address | None) -> MeetingItem | str:
    uid = str(event.get("UID", "")).strip()
    if not uid:
        return "no UID"
    start_prop = event.get("DTSTART")
    if start_prop is None:
        return "no DTSTART"
    start, zone = _as_datetime(start_prop.dt)
    zone = str(start_prop.params.get("TZID", "")) or zone  # as the sender named it
    end_prop = event.get("DTEND")
    if end_prop is not None:
        end, _ = _as_datetime(end_prop.dt)
    elif event.get("DURATION") is not None:
        end = start + event.get("DURATION").dt
    else:
        all_day = not isinstance(start_prop.dt, datetime)
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    if end < start:
        return f"DTEND {end.isoformat()} is before DTSTART {start.isoformat()}"
    recurrence_id = event.get("RECURRENCE-ID")
    occurrence = recurrence_id.dt.isoformat() if recurrence_id is not None else None
    rrule = event.get("RRULE")
    status = str(event.get("STATUS", "")).upper()
    return MeetingItem(
        provider_item_id=f"file:{uid}" + (f"#{occurrence}" if occurrence else ""),
        folder=IMPORTED_FOLDER,
        uid=uid,
        subject=str(event.get("SUMMARY", "")),
        start=start,
        end=end,
        timezone=zone,
        organizer=_organizer(event.get("ORGANIZER")) or fallback_organizer,
        attendees=tuple(_attendees(event.get("ATTENDEE"))),
        location=str(event.get("LOCATION", "")),
        online_meeting_url=_online_url(event),
        recurrence_id=occurrence,
        recurrence="RRULE:" + rrule.to_ical().decode() if rrule is not None else None,
        is_cancelled=status == "CANCELLED" or method == "CANCEL",
        sensitivity=_CLASSES.get(str(event.get("CLASS", "")).upper(), Sensitivity.NORMAL),
        categories=tuple(_categories(event.get("CATEGORIES"))),
        body_text=str(event["DESCRIPTION"]) if "DESCRIPTION" in event else None,
    )


def _as_datetime(value: date | datetime) -> tuple[datetime, str]:
    """An aware datetime and its zone name; all-day dates start at midnight UTC,
    floating times (no zone) are read as UTC."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=UTC), "UTC"
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC), "UTC"
    return value, _zone_name(value.tzinfo, value)


def _zone_name(zone: tzinfo, moment: datetime) -> str:
    key = getattr(zone, "key", None) or getattr(zone, "zone", None)
    return str(key) if key else (zone.tzname(moment) or "UTC")


def _address(value: Any) -> str:
    text = str(value).strip()
    return text[7:] if text.lower().startswith("mailto:") else text


def _organizer(value: Any) -> Address | None:
    if value is None:
        return None
    address = _address(value)
    return Address(address, str(value.params.get("CN", ""))) if "@" in address else None


def _attendees(value: Any) -> list[Attendee]:
    values = value if isinstance(value, list) else [value] if value is not None else []
    out: list[Attendee] = []
    for entry in values:
        address = _address(entry)
        if "@" not in address:
            continue
        params = entry.params
        cutype = str(params.get("CUTYPE", "")).upper()
        role = (
            "resource"
            if cutype in {"RESOURCE", "ROOM"}
            else _ROLES.get(str(params.get("ROLE", "REQ-PARTICIPANT")).upper(), "required")
        )
        response = _RESPONSES.get(str(params.get("PARTSTAT", "")).upper(), "none")
        out.append(Attendee(address, str(params.get("CN", "")), role, response))
    return out


def _online_url(event: Any) -> str | None:
    for key in _ONLINE_KEYS:
        if key in event:
            return str(event[key])
    return None


def _categories(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value] if value is not None else []
    out: list[str] = []
    for entry in values:
        out.extend(str(c) for c in getattr(entry, "cats", [entry]))
    return out
