"""Every page and export shows each person exactly what their role allows (issue 6).

GIVEN the team scenario (tests/web/pages/scenario.py: who must see which
item), WHEN each person opens each route with their API token, THEN the
items on it are exactly the ones they may see there: never someone else's
correspondence outside their reach, never a private item, never an unlinked
one. Subjects carry the item's name in brackets, so a page is checked for
the set of names it shows.

Every test here only reads (the one POST must be refused), so the module
shares one scenario and one app per backend (``shared_pages``).
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from tests.web.pages.scenario import NEVER_SHOWN, SEES, Team

PEOPLE = sorted(SEES)
NAME = re.compile(r"\[(\w+)\]")


@pytest.fixture
def team(shared_team: Team) -> Team:
    return shared_team


@pytest.fixture
def pages(shared_pages: TestClient) -> TestClient:
    return shared_pages


def shown(text: str) -> set[str]:
    return set(NAME.findall(text))


def csv_names(text: str) -> set[str]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {name for row in rows for name in NAME.findall(row["subject"])}


def timelines(team: Team) -> dict[str, tuple[str, set[str]]]:
    """Route → the items linked there (before visibility)."""
    return {
        "opportunity": (
            f"/pages/opportunities/{team.anna_deal}",
            {"anna_mail", "crossed", "private", "meeting"},
        ),
        "account acme": (
            f"/pages/accounts/{team.acme}",
            {"anna_mail", "crossed", "private", "meeting", "suggested"},
        ),
        "account beta": (f"/pages/accounts/{team.carl_account}", {"carl_mail", "ben_mail"}),
        "contact": (f"/pages/contacts/{team.acme_contact}", set()),
    }


def test_record_timelines_show_only_what_the_role_allows(pages: TestClient, team: Team) -> None:
    for who in PEOPLE:
        for route, (path, linked) in timelines(team).items():
            page = pages.get(path, headers=team.headers(who))
            assert page.status_code == 200, (route, page.text)
            assert shown(page.text) == linked & SEES[who] - NEVER_SHOWN, route
            export = pages.get(path, params={"format": "csv"}, headers=team.headers(who))
            assert export.status_code == 200
            assert export.headers["content-type"].startswith("text/csv")
            assert csv_names(export.text) == linked & SEES[who] - NEVER_SHOWN, route


def test_search_and_its_csv_show_only_visible_items(pages: TestClient, team: Team) -> None:
    for who in PEOPLE:
        page = pages.get("/pages/search", params={"q": "["}, headers=team.headers(who))
        assert page.status_code == 200
        assert shown(page.text) == SEES[who]
        export = pages.get(
            "/pages/search", params={"q": "[", "format": "csv"}, headers=team.headers(who)
        )
        assert csv_names(export.text) == SEES[who]


def test_opening_an_item_outside_reach_is_not_found(pages: TestClient, team: Team) -> None:
    for who in PEOPLE:
        for name, (kind, item_id) in team.items.items():
            base = f"/pages/{kind}s/{item_id}"
            paths = [base, base + "/body"] if kind == "message" else [base]
            for path in paths:
                answer = pages.get(path, headers=team.headers(who))
                expected = 200 if name in SEES[who] else 404
                assert answer.status_code == expected, (who, name, path)


def test_calendar_export_holds_only_visible_meetings(pages: TestClient, team: Team) -> None:
    for who in PEOPLE:
        for path in (
            f"/pages/opportunities/{team.anna_deal}/meetings.ics",
            f"/pages/accounts/{team.acme}/meetings.ics",
        ):
            answer = pages.get(path, headers=team.headers(who))
            assert answer.status_code == 200
            assert ("[meeting]" in answer.text) == ("meeting" in SEES[who]), (who, path)


def test_suggestion_queue_and_its_csv_show_it_to_those_who_may_decide(
    pages: TestClient, team: Team
) -> None:
    for who in PEOPLE:
        page = pages.get("/pages/suggestions", headers=team.headers(who))
        export = pages.get("/pages/suggestions?format=csv", headers=team.headers(who))
        assert ("[suggested]" in page.text) == ("suggested" in SEES[who])
        assert ("[suggested]" in export.text) == ("suggested" in SEES[who])


def test_nobody_can_decide_a_suggestion_they_cannot_see(pages: TestClient, team: Team) -> None:
    for who in PEOPLE:
        if "suggested" in SEES[who]:
            continue  # deciding is tested in test_pages_actions
        answer = pages.post(
            f"/pages/suggestions/{team.suggestion}/confirm", headers=team.headers(who)
        )
        assert answer.status_code == 404
        queue = pages.get("/pages/suggestions", headers=team.headers("ada"))
        assert "[suggested]" in queue.text  # still pending


EXPECTED_DEALS = {
    "anna": {"OPP-100001", "OPP-100002"},
    "ben": set(),
    "maria": {"OPP-100001", "OPP-100002"},
    "carl": {"OPP-200001"},
    "ada": {"OPP-100001", "OPP-100002", "OPP-200001"},
}


def test_dashboard_and_deal_lists_cover_the_deals_in_reach(pages: TestClient, team: Team) -> None:
    for who in PEOPLE:
        dashboard = pages.get("/pages/", headers=team.headers(who))
        assert dashboard.status_code == 200
        assert set(re.findall(r"OPP-\d{6}", dashboard.text)) == EXPECTED_DEALS[who]
        export = pages.get("/pages/opportunities?format=csv", headers=team.headers(who))
        assert {row["code"] for row in csv.DictReader(io.StringIO(export.text))} == EXPECTED_DEALS[
            who
        ]


def test_activity_export_counts_the_team_of_a_manager_only(pages: TestClient, team: Team) -> None:
    answer = pages.get("/pages/activity?format=csv", headers=team.headers("maria"))
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {row["email"] for row in rows} == {
        "maria@ourco.example",
        "anna@ourco.example",
        "ben@ourco.example",
    }
    totals: dict[str, list[int]] = {}
    for row in rows:
        counts = totals.setdefault(row["email"], [0, 0, 0])
        counts[0] += int(row["emails_in"])
        counts[1] += int(row["emails_out"])
        counts[2] += int(row["meetings"])
    # Anna's mailbox: anna_mail and suggested in (private/unlinked never count), one meeting
    assert totals["anna@ourco.example"] == [2, 0, 1]
    assert totals["ben@ourco.example"] == [0, 1, 0]


def test_pages_without_credentials_ask_to_sign_in(pages: TestClient, team: Team) -> None:
    # GIVEN browser sign-in is off ([pages] signin = "api_token")
    answer = pages.get("/pages/", follow_redirects=False)
    # THEN the page says how to sign in instead of showing anything
    assert answer.status_code == 401
    assert "API token" in answer.text
    forged = pages.get("/pages/", headers={"Authorization": "Bearer msk_forged"})
    assert forged.status_code == 401
