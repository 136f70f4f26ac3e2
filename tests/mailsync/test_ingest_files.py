"""File ingestion: .eml, .mbox and .ics into normalised items; broken files named with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_store.items import MeetingItem, MessageItem, Sensitivity
from mailsync.ingest import (
    ExplainedItem,
    FileError,
    IngestedItem,
    explain_paths,
    ingest_paths,
    parse_message_bytes,
)
from rules import AccountRecord, ContactRecord, CrmIndex, OpportunityRecord, RulesEngine

SAMPLES = Path(__file__).parent / "ingest_samples"


def read(name: str) -> list[IngestedItem | FileError]:
    return list(ingest_paths([SAMPLES / name]))


def only_item(name: str) -> MessageItem | MeetingItem:
    outcomes = read(name)
    assert len(outcomes) == 1 and isinstance(outcomes[0], IngestedItem), outcomes
    return outcomes[0].item


def test_outlook_reply_with_attachment_is_fully_normalised() -> None:
    # GIVEN a multipart Outlook reply with encoded words, QP body and a PDF
    item = only_item("outlook_reply.eml")
    # THEN every field the rules and the store need is there, decoded
    assert isinstance(item, MessageItem)
    assert item.subject == "Re: Angebot für OPP-000123 \u2013 Preise"
    assert item.sender is not None and item.sender.address == "jane@acme.com"
    assert item.sender.name == "Doe, Jane"
    assert [a.address for a in item.cc] == ["juergen.mueller@acme.com", "team@us.example"]
    assert item.cc[0].name == "Müller, Jürgen"
    assert item.internet_message_id == (
        "<AM6PR05MB6053A1B2C3D4E5F6@AM6PR05MB6053.eurprd05.prod.outlook.com>"
    )
    assert item.in_reply_to == "<AM6PR05MB6053AAAA@AM6PR05MB6053.eurprd05.prod.outlook.com>"
    assert item.references == (
        "<first.4711@us.example>",
        "<AM6PR05MB6053AAAA@AM6PR05MB6053.eurprd05.prod.outlook.com>",
    )
    assert item.sent_at == datetime(2026, 3, 2, 9, 15, 1, tzinfo=UTC)
    assert item.body_text is not None and "überarbeiteten Preise für OPP-000123" in item.body_text
    assert item.body_html is not None and item.body_html.startswith("<html>")
    assert item.has_attachments
    assert [(a.name, a.content_type) for a in item.attachments] == [
        ("Angebot OPP-000123.pdf", "application/pdf")
    ]
    assert item.attachments[0].size > 0
    assert item.categories == ("CRM", "Angebot")
    assert item.headers["X-MS-Exchange-Organization-SCL"] == "-1"
    assert item.provider_item_id == f"file:{item.internet_message_id}"


def test_meeting_request_in_a_message_is_read_as_the_meeting() -> None:
    item = only_item("invitation.eml")
    assert isinstance(item, MeetingItem)
    assert item.uid.startswith("040000008200E00074C5B7101A82E008")
    assert item.subject == "Kick-off OPP-000123"
    assert item.timezone == "W. Europe Standard Time"
    # 10:00 in Central European (winter) time is 09:00 UTC
    assert item.start.astimezone(UTC) == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert item.end - item.start == timedelta(hours=1)
    assert item.organizer is not None and item.organizer.address == "alice@us.example"
    assert [(a.address, a.role, a.response) for a in item.attendees] == [
        ("jane@acme.com", "required", "none"),
        ("bob@us.example", "optional", "tentative"),
        ("room.rhein@us.example", "resource", "none"),
    ]
    assert item.online_meeting_url is not None and "teams.microsoft.com" in item.online_meeting_url
    assert item.body_text == "Agenda: scope, timeline, pricing.\n"


def test_an_acceptance_is_mail_about_a_meeting_not_the_meeting() -> None:
    item = only_item("accepted_reply.eml")
    assert isinstance(item, MessageItem)
    assert item.subject == "Accepted: Kick-off OPP-000123"


def test_message_without_message_id_gets_the_stable_header_key_and_sensitivity() -> None:
    item = only_item("no_message_id.eml")
    assert isinstance(item, MessageItem)
    assert item.internet_message_id is None
    assert item.message_key.startswith("hash:")
    assert item.provider_item_id == f"file:{item.message_key}"
    assert item.sensitivity is Sensitivity.PRIVATE
    assert item.sent_at == datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


def test_reading_twice_gives_the_same_items() -> None:
    first = list(ingest_paths([SAMPLES]))
    second = list(ingest_paths([SAMPLES]))
    assert first == second
    keys = [o.item.provider_item_id for o in first if isinstance(o, IngestedItem)]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.eml", "empty file"),
        ("garbage.eml", "not an email: no RFC 5322 header lines"),
        ("no_from.eml", "no From header"),
        ("bad_date.eml", "Date header 'the day after tomorrow' is not an RFC 5322 date"),
        ("broken.ics", "not valid iCalendar"),
        ("no_uid.ics", "event #1: no UID"),
        ("not_really.mbox", "not an mbox"),
        ("notes.txt", "unsupported file type .txt"),
        ("missing.eml", "cannot read"),
    ],
)
def test_broken_files_are_reported_by_name_and_reason(name: str, reason: str) -> None:
    outcomes = read(name)
    assert len(outcomes) == 1
    error = outcomes[0]
    assert isinstance(error, FileError)
    assert error.source == str(SAMPLES / name)
    assert reason in error.reason
    assert str(error).startswith(str(SAMPLES / name) + ": ")


def test_broken_file_does_not_stop_the_rest() -> None:
    # GIVEN a broken file between two good ones
    paths = [SAMPLES / "outlook_reply.eml", SAMPLES / "garbage.eml", SAMPLES / "invitation.eml"]
    outcomes = list(ingest_paths(paths))
    # THEN both good files come through, and the bad one is reported in its place
    assert [type(o).__name__ for o in outcomes] == ["IngestedItem", "FileError", "IngestedItem"]


def test_mbox_reports_its_broken_entry_and_keeps_the_others() -> None:
    outcomes = read("export.mbox")
    assert [o.source.rsplit("/", 1)[1] for o in outcomes] == [
        "export.mbox#1",
        "export.mbox#2",
        "export.mbox#3",
    ]
    first, broken, third = outcomes
    assert isinstance(first, IngestedItem) and isinstance(first.item, MessageItem)
    assert first.item.body_text is not None and ">From here on" in first.item.body_text
    assert isinstance(broken, FileError) and "no From header" in broken.reason
    assert isinstance(third, IngestedItem) and isinstance(third.item, MessageItem)
    assert third.item.in_reply_to == "<mbox.1@acme.com>"


def test_ics_series_exception_and_cancelled_all_day_event() -> None:
    outcomes = read("series.ics")
    meetings = [o.item for o in outcomes if isinstance(o, IngestedItem)]
    assert len(meetings) == 3 and all(isinstance(m, MeetingItem) for m in meetings)
    series, moved, offsite = meetings
    assert isinstance(series, MeetingItem) and isinstance(moved, MeetingItem)
    assert isinstance(offsite, MeetingItem)
    assert series.recurrence == "RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=MO"
    assert series.timezone == "Europe/Berlin"
    assert series.categories == ("CRM", "Acme")
    assert moved.recurrence_id == "2026-03-09T09:00:00+01:00"
    assert moved.meeting_key == "weekly-sync-7f3a@us.example#2026-03-09T09:00:00+01:00"
    assert moved.attendees[0].response == "declined"
    assert offsite.is_cancelled and offsite.sensitivity is Sensitivity.PRIVATE
    assert offsite.start == datetime(2026, 3, 20, tzinfo=UTC)
    assert offsite.end - offsite.start == timedelta(days=1)


def test_from_header_without_an_address() -> None:
    data = b"From: undisclosed-recipients:;\r\nSubject: x\r\n\r\nbody\r\n"
    result = parse_message_bytes(data, "x.eml")
    assert isinstance(result, FileError)
    assert "has no address" in result.reason


def test_explain_a_real_message_file_through_the_rules() -> None:
    # GIVEN the CRM knows Jane (Acme) and the Acme renewal OPP-000123
    index = CrmIndex.build(
        accounts=[AccountRecord(1, "Acme Corp", ("acme.com",))],
        contacts=[ContactRecord(10, "Jane Doe", ("jane@acme.com",), 1)],
        opportunities=[OpportunityRecord(100, "OPP-000123", "Acme renewal", 1)],
        internal_domains=["us.example"],
    )
    paths = [SAMPLES / "outlook_reply.eml", SAMPLES / "garbage.eml"]
    # WHEN the files are explained
    outcomes = list(explain_paths(paths, RulesEngine(index), "alice@us.example"))
    # THEN the reply shows the code and the sender as evidence, the bad file its reason
    explained, broken = outcomes
    assert isinstance(explained, ExplainedItem) and isinstance(broken, FileError)
    text = "\n".join(explained.explanation.lines())
    assert "token: OPP-000123 in subject → opportunity Acme renewal" in text
    assert "participant: from=jane@acme.com → contact Jane Doe" in text
    assert "domain: cc=juergen.mueller@acme.com: account of acme.com already linked" in text
