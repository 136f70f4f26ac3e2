"""The meetings export parses back with icalendar, with the same instants and zones (issue 6)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from icalendar import Calendar

from crm_store.models import Meeting
from tests.web.pages.scenario import Team
from web.pages.calendar_export import calendar_for


def test_opportunity_meetings_round_trip_times_zone_and_uid(pages: TestClient, team: Team) -> None:
    # GIVEN Anna's demo scheduled 10:00 Europe/Berlin on 17 March 2026 (09:00 UTC)
    # WHEN the opportunity's meetings are exported twice
    first = pages.get(
        f"/pages/opportunities/{team.anna_deal}/meetings.ics", headers=team.headers("anna")
    )
    second = pages.get(
        f"/pages/opportunities/{team.anna_deal}/meetings.ics", headers=team.headers("anna")
    )
    # THEN the file is a calendar Outlook accepts: VERSION, PRODID, a VTIMEZONE for the zone
    assert first.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(first.content)
    assert str(calendar["version"]) == "2.0"
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    (event,) = calendar.walk("VEVENT")
    start = event.decoded("dtstart")
    # AND the start is the same instant, still expressed in Berlin time
    assert start == datetime(2026, 3, 17, 9, 0, tzinfo=UTC)
    assert start.utcoffset() is not None and start.utcoffset().total_seconds() == 3600
    assert "TZID=Europe/Berlin" in first.text
    assert (event.decoded("dtend") - start).total_seconds() == 3600
    assert str(event["summary"]) == "[meeting] Acme demo"
    # AND the UID is the meeting's own, the same in every export
    uid = str(event["uid"])
    assert uid == "040000008200E00074C5B7101A82E008-acme-demo"
    assert str(Calendar.from_ical(second.content).walk("VEVENT")[0]["uid"]) == uid


def _meeting(**fields: object) -> Meeting:
    values: dict[str, object] = {
        "uid": "uid-1@ourco.example",
        "meeting_key": "uid-1@ourco.example",
        "subject": "Review",
        "start_at": datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        "end_at": datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        "timezone": "UTC",
        "organizer_address": "anna@ourco.example",
        "organizer_name": "Anna",
        "location": "",
        "is_cancelled": False,
        "sensitivity": "normal",
    }
    values.update(fields)
    return Meeting(**values)


def test_unknown_or_utc_zones_are_written_in_utc_and_series_occurrences_keep_their_id() -> None:
    # GIVEN a meeting in a zone Python does not know, one in UTC, and an occurrence of a
    # series across the October DST change in New York
    unknown = _meeting(timezone="W. Europe Standard Time")
    utc = _meeting(uid="uid-2@ourco.example", meeting_key="uid-2@ourco.example")
    occurrence = _meeting(
        uid="series@ourco.example",
        meeting_key="series@ourco.example|2026-11-02T14:00:00Z",
        recurrence_id="2026-11-02T14:00:00Z",
        start_at=datetime(2026, 11, 2, 14, 0, tzinfo=UTC),
        end_at=datetime(2026, 11, 2, 15, 0, tzinfo=UTC),
        timezone="America/New_York",
    )
    # WHEN exported and parsed back
    calendar = Calendar.from_ical(calendar_for([unknown, utc, occurrence], name="test"))
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    # THEN the unknown zone and UTC come back as the same UTC instants
    for uid in ("uid-1@ourco.example", "uid-2@ourco.example"):
        start = events[uid].decoded("dtstart")
        assert start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
        assert start.utcoffset().total_seconds() == 0
    # AND the occurrence keeps its zone, its instant and its RECURRENCE-ID
    series = events["series@ourco.example"]
    start = series.decoded("dtstart")
    assert start == datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert series.decoded("recurrence-id") == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    assert {str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")} == {"America/New_York"}
