"""Graph JSON becomes items; a malformed entry becomes a failure and never costs the page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_store.items import ItemKind, MeetingItem, MessageItem, Sensitivity
from mailsync.providers.graph.normalise import (
    html_to_text,
    message_from_graph,
    split_page,
)


def _message(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "AAMk-1",
        "internetMessageId": "<m1@acme.example>",
        "conversationId": "conv-1",
        "subject": "Quote OPP-000123",
        "sentDateTime": "2025-03-01T10:00:00Z",
        "receivedDateTime": "2025-03-01T10:00:05Z",
        "from": {"emailAddress": {"name": "Jane", "address": "Jane@Acme.example"}},
        "toRecipients": [{"emailAddress": {"name": "Bob", "address": "bob@us.example"}}],
        "ccRecipients": [],
        "categories": ["Blue"],
        "hasAttachments": False,
        "internetMessageHeaders": [
            {"name": "In-Reply-To", "value": "<m0@us.example>"},
            {"name": "References", "value": "<a@x> <m0@us.example>"},
            {"name": "Received", "value": "from somewhere"},
        ],
    }
    raw.update(overrides)
    return raw


def test_message_keeps_threading_headers_and_lowercases_addresses() -> None:
    item = message_from_graph(_message(), "inbox")
    assert item.sender is not None and item.sender.address == "jane@acme.example"
    assert item.in_reply_to == "<m0@us.example>"
    assert item.references == ("<a@x>", "<m0@us.example>")
    assert "received" not in item.headers  # only what the rules read is kept
    assert item.sent_at == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def test_sensitivity_header_marks_a_message_private() -> None:
    raw = _message(internetMessageHeaders=[{"name": "Sensitivity", "value": "Private"}])
    assert message_from_graph(raw, "inbox").sensitivity is Sensitivity.PRIVATE


def test_sensitivity_extended_property_covers_sent_copies_without_headers() -> None:
    raw = _message(
        internetMessageHeaders=[],
        singleValueExtendedProperties=[{"id": "Integer 0x36", "value": "3"}],
    )
    assert message_from_graph(raw, "sentitems").sensitivity is Sensitivity.CONFIDENTIAL


def test_malformed_item_is_a_failure_and_the_rest_of_the_page_survives() -> None:
    # GIVEN a page with a good message, a removal, and two broken entries
    page = [
        _message(),
        {"id": "gone", "@removed": {"reason": "deleted"}},
        _message(id="bad-1", sentDateTime="yesterday"),
        ["not", "an", "object"],
    ]
    # WHEN it is split
    upserts, removals, failures = split_page(page, "inbox", ItemKind.MESSAGE)
    # THEN the good ones are kept and each broken one is named with its reason
    assert [u.provider_item_id for u in upserts] == ["AAMk-1"]
    assert isinstance(upserts[0], MessageItem)
    assert [(r.provider_item_id, r.kind) for r in removals] == [("gone", ItemKind.MESSAGE)]
    assert failures[0].provider_item_id == "bad-1" and "sentDateTime" in failures[0].error
    assert failures[1].provider_item_id.startswith("unidentified:")


def test_event_occurrence_gets_its_own_key_and_attendee_responses() -> None:
    raw = {
        "id": "ev-1",
        "iCalUId": "uid-1",
        "type": "occurrence",
        "originalStart": "2025-04-07T09:00:00Z",
        "subject": "Weekly",
        "start": {"dateTime": "2025-04-07T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2025-04-07T09:30:00.0000000", "timeZone": "UTC"},
        "organizer": {"emailAddress": {"address": "amy@us.example"}},
        "attendees": [
            {
                "type": "required",
                "status": {"response": "tentativelyAccepted"},
                "emailAddress": {"address": "Cy@Client.example", "name": "Cy"},
            }
        ],
        "isCancelled": True,
        "sensitivity": "normal",
    }
    [item], _, failures = split_page([raw], "calendar", ItemKind.MEETING)
    assert not failures
    assert isinstance(item, MeetingItem)
    assert item.meeting_key == "uid-1#2025-04-07T09:00:00Z"
    assert item.attendees[0].response == "tentative"
    assert item.attendees[0].address == "cy@client.example"
    assert item.is_cancelled


def test_html_body_becomes_readable_text_without_scripts() -> None:
    html = "<html><head><style>p{}</style></head><body><p>Hello&nbsp;Jane</p>"
    html += "<script>x()</script><div>Line two</div></body></html>"
    assert html_to_text(html) == "Hello Jane\nLine two"
