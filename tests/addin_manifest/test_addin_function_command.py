"""The "Track in CRM" function file, run in node against a test double of Office.js.

GIVEN an item in read or compose mode and a backend answer
WHEN the button's handler runs
THEN it posts the item to the track endpoint with the SSO token, shows the outcome as a
notification on the item, and calls event.completed() exactly once, whatever happened.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT

HARNESS = Path(__file__).with_name("run_function_command.js")
TRACK_URL = "https://crm.example.com/sales/api/v1/items/track"
LINKS = [{"targetType": "opportunity", "targetName": "Acme renewal", "reason": "domain"}]


def run(node: str, **scenario: Any) -> dict[str, Any]:
    scenario = {"mode": "read", "kind": "message", "status": 200, "links": LINKS} | scenario
    scenario.setdefault("token", "token-123")
    completed = subprocess.run(
        [node, str(HARNESS), json.dumps(scenario)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report: dict[str, Any] = json.loads(completed.stdout)
    assert report["completed"] == 1, "event.completed() must be called exactly once"
    return report


def test_read_message_is_posted_with_headers_and_links_are_shown(node: str) -> None:
    report = run(node)
    (request,) = report["fetches"]
    assert request["url"] == TRACK_URL and request["method"] == "POST"
    assert request["headers"]["Authorization"] == "Bearer token-123"
    body = request["body"]
    assert body["kind"] == "message" and body["mode"] == "read"
    assert body["internetMessageId"] == "<m1@customer.example>"
    assert "In-Reply-To: <m0@ours.example>" in body["headers"]
    assert body["restItemId"] == "rest:v2.0:AAMkAD-ews-id"
    assert body["from"] == {"name": "Ann Buyer", "address": "ann@customer.example"}
    assert body["body"] == "Hello from the customer"
    (note,) = report["notifications"]
    assert note["type"] == "informationalMessage"
    assert "Acme renewal (opportunity)" in note["message"]
    # both ways Outlook finds the handler: Office.actions.associate and the global name
    # (the send handlers are associated as the script runs, the button once Office is ready)
    assert report["associated"] == [
        "onMessageSendHandler",
        "onAppointmentSendHandler",
        "trackInCrm",
    ]
    assert report["globalFunction"] is True


def test_read_meeting_sends_attendees_and_times(node: str) -> None:
    body = run(node, kind="meeting")["fetches"][0]["body"]
    assert body["kind"] == "meeting"
    assert body["requiredAttendees"][0]["address"] == "ann@customer.example"
    assert body["start"] == "2026-01-05T09:00:00.000Z"


def test_compose_message_is_marked_saved_then_posted(node: str) -> None:
    report = run(node, mode="compose")
    calls = report["calls"]
    assert 'internetHeaders.setAsync:{"X-Mailsync-Track":"1"}' in calls
    assert calls.index("saveAsync") < calls.index("getItemIdAsync")
    body = report["fetches"][0]["body"]
    assert body["mode"] == "compose" and body["itemId"] == "AAMkAD-saved-draft"
    assert body["subject"] == "Draft proposal"


def test_no_match_tells_the_user_to_link_by_hand(node: str) -> None:
    (note,) = run(node, links=[])["notifications"]
    assert note["type"] == "informationalMessage" and "no record matched" in note["message"]


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ({"status": 401}, "sign-in has expired"),
        ({"status": 500}, "HTTP 500"),
        ({"token": None}, "not signed in"),
    ],
)
def test_failures_show_an_error_and_still_complete(
    node: str, scenario: dict[str, Any], expected: str
) -> None:
    report = run(node, **scenario)
    (note,) = report["notifications"]
    assert note["type"] == "errorMessage"
    assert expected in note["message"]
    assert len(note["message"]) <= 150


# ----------------------------------------------------------------------------- send events

PENDING = "mailsyncPendingLinks"
CHOSEN = [
    {"kind": "opportunity", "id": 7, "name": "Acme renewal"},
    {"kind": "contact", "id": 3, "name": "Ann Buyer"},
]


def send(node: str, **scenario: Any) -> dict[str, Any]:
    scenario = {
        "mode": "compose",
        "handler": "onMessageSendHandler",
        "customProperties": {PENDING: json.dumps(CHOSEN)},
    } | scenario
    report = run(node, **scenario)
    # whatever happened, the mail goes out
    assert report["completedWith"] == [{"allowEvent": True}]
    return report


def test_track_on_the_sent_copy_applies_and_clears_links_chosen_while_writing(node: str) -> None:
    # GIVEN the sent copy still carries links picked while writing
    report = run(node, customProperties={PENDING: json.dumps(CHOSEN)})
    # THEN after the track call each is linked under the stored message's Message-ID
    track, *links = report["fetches"]
    assert track["url"] == TRACK_URL
    stored = {"internetMessageId": "<m1@customer.example>"}
    assert [(f["url"].rsplit("/", 2)[-2:], f["body"]) for f in links] == [
        (["items", "links"], {"item": stored, "target": {"kind": k, "id": i}})
        for k, i in (("opportunity", 7), ("contact", 3))
    ]
    assert report["customProperties"] == {}
    (note,) = report["notifications"]
    assert note["message"].endswith("+ 2 link(s) chosen while writing")


def test_send_applies_pending_links_with_a_snapshot_of_the_message_as_sent(node: str) -> None:
    report = send(node)
    posts = report["fetches"]
    assert [p["body"]["target"] for p in posts] == [
        {"kind": "opportunity", "id": 7},
        {"kind": "contact", "id": 3},
    ]
    snapshot = posts[0]["body"]["snapshot"]
    assert posts[0]["body"]["item"] == {"itemId": "rest:v2.0:AAMkAD-saved-draft"}
    assert snapshot["mode"] == "read" and snapshot["kind"] == "message"
    assert snapshot["from"] == {"name": "Sam Seller", "address": "sam@ours.example"}
    assert snapshot["to"] == [{"name": "Ann Buyer", "address": "ann@customer.example"}]
    assert snapshot["sentAt"] and "internetMessageId" not in snapshot
    # one snapshot for all links, so they land on one stored message
    assert posts[1]["body"]["snapshot"] == snapshot
    assert 'getAccessToken:{"allowSignInPrompt":false,"allowConsentPrompt":false,' in "".join(
        report["calls"]
    )
    kept = json.loads(report["customProperties"][PENDING])
    assert all(link["appliedAt"] == snapshot["sentAt"] for link in kept)


def test_send_records_which_links_reached_the_crm_when_one_is_refused(node: str) -> None:
    # GIVEN the CRM takes the first link and fails on the second
    report = send(node, linkStatuses=[201, 500])
    # THEN the first is marked applied, the second stays pending for the sent copy
    first, second = json.loads(report["customProperties"][PENDING])
    assert first["appliedAt"] and "appliedAt" not in second


def test_send_without_a_token_leaves_everything_pending(node: str) -> None:
    report = send(node, token=None)
    assert report["fetches"] == []
    assert report["customProperties"] is None  # the item's links were not rewritten


def test_send_does_not_wait_for_a_backend_that_never_answers(node: str) -> None:
    # GIVEN a CRM that accepts the connection and never answers
    report = send(node, hang=True)
    # THEN the handler gives up before Outlook's five-second "taking longer" dialog
    assert len(report["fetches"]) == 1
    assert 3500 <= report["elapsedMs"] < 5000
    assert report["customProperties"] is None


def test_meeting_send_stores_the_organizers_meeting(node: str) -> None:
    report = send(node, kind="meeting", handler="onAppointmentSendHandler")
    snapshot = report["fetches"][0]["body"]["snapshot"]
    assert snapshot["kind"] == "meeting"
    assert snapshot["organizer"] == {"name": "Sam Seller", "address": "sam@ours.example"}
    assert snapshot["start"] == "2026-01-05T09:00:00.000Z"
    assert not any(call.startswith("internetHeaders") for call in report["calls"])


def test_unreadable_pending_links_are_left_as_they_are(node: str) -> None:
    # GIVEN a pending-links property that is not JSON (another add-in version, a broken write)
    report = send(node, customProperties={PENDING: "{not json"})
    # THEN the mail goes out, nothing is posted, and the property is not overwritten
    assert report["fetches"] == []
    assert report["customProperties"] is None


def test_send_in_classic_outlooks_javascript_runtime_finds_the_api_by_the_script_url(
    node: str,
) -> None:
    # GIVEN classic Outlook on Windows: the handler runs from commands.js, without a document
    report = send(node, jsRuntime=True)
    # THEN the API is found next to the script, as it is next to commands.html elsewhere
    assert {f["url"] for f in report["fetches"]} == {
        "https://crm.example.com/sales/api/v1/items/links"
    }
