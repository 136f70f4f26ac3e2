"""Meetings as an iCalendar file that Outlook opens: stable UIDs, real time zones.

Each meeting keeps the zone it was scheduled in (``DTSTART;TZID=Europe/Berlin``
with the matching VTIMEZONE, which Outlook needs to show 09:00 as 09:00 after
a daylight-saving change); a zone Python does not know falls back to UTC
(``…Z``), which every client reads right. The UID is the meeting's own
iCalendar UID, so importing the file twice updates instead of duplicating,
and an occurrence of a series is told apart by its RECURRENCE-ID, as in the
invitation it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Event, vCalAddress, vText

from crm_store.models import Meeting

PRODUCT_ID = "-//mailsync//manager pages//EN"


def _zone(name: str | None) -> ZoneInfo | None:
    if not name or name.upper() == "UTC":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _local(moment: datetime, zone: ZoneInfo | None) -> datetime:
    return moment.astimezone(zone) if zone is not None else moment.astimezone(UTC)


def _recurrence_id(value: str) -> datetime | None:
    """Stored as ``YYYY-MM-DDTHH:MM:SSZ`` (the original start of the occurrence, UTC)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def calendar_for(meetings: Sequence[Meeting], *, name: str, now: datetime | None = None) -> bytes:
    stamp = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    for meeting in meetings:
        zone = _zone(meeting.timezone)
        event = Event()
        event.add("uid", meeting.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", _local(meeting.start_at, zone))
        event.add("dtend", _local(meeting.end_at, zone))
        event.add("summary", meeting.subject or "(no subject)")
        if meeting.recurrence_id:
            original = _recurrence_id(meeting.recurrence_id)
            if original is not None:
                event.add("recurrence-id", _local(original, zone))
        if meeting.location:
            event.add("location", meeting.location)
        if meeting.online_meeting_url:
            event.add("url", meeting.online_meeting_url)
        if meeting.body_text:
            event.add("description", meeting.body_text)
        if meeting.organizer_address:
            organizer = vCalAddress(f"mailto:{meeting.organizer_address}")
            if meeting.organizer_name:
                organizer.params["cn"] = vText(meeting.organizer_name)
            event.add("organizer", organizer)
        event.add("status", "CANCELLED" if meeting.is_cancelled else "CONFIRMED")
        event.add("class", "PUBLIC" if meeting.sensitivity == "normal" else "CONFIDENTIAL")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data
