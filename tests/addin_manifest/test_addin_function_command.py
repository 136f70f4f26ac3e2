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
