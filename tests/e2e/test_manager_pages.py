"""Manager pages in headless Chromium: who sees what, the charts, one-click confirm, hostile mail.

The browser signs in with a personal API token (an ``Authorization`` header on
every request of its context, frames included), the way scripts and tests use
the pages. The app runs with its clock at the scenario's "now", so the
activity charts have the scenario's weeks in them. Screenshots go to
``test-artifacts/e2e/``.

The scenario and the live app are built once per backend for the module
(``site``); each test opens its own browser contexts on the session's browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_session_factory
from crm_store.models import Link, LinkSuggestion
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.conftest import BACKENDS, MigratedDatabase, empty_all_tables
from tests.e2e.conftest import ARTIFACTS, UI_TIMEOUT_MS, e2e_settings
from tests.e2e.servers import serve_on_loopback
from tests.web.pages.scenario import NOW, SEES, Team, build_team
from web.app import create_app

NAME = re.compile(r"\[(\w+)\]")
BEYOND_LOOPBACK = re.compile(r"^(?!(https?://(127\.0\.0\.1|localhost)(:\d+)?/|data:|about:))")


@dataclass
class PagesSite:
    url: str
    team: Team
    sessions: sessionmaker[Session]


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, idp: EntraIdentityProvider) -> Iterator[PagesSite]:
    """One scenario and one live app per backend for the whole module.

    Anna's email carries the hostile HTML; the other tests only read subjects,
    charts and the queue, so one scenario serves them all. The tests read it,
    except the confirm test, which is last in the module for that reason.
    """
    database: MigratedDatabase = request.getfixturevalue(f"{request.param}_database")
    sessions = make_session_factory(database.engine)
    try:
        with sessions() as session:
            team = build_team(session, hostile_body=True)

        def clock() -> datetime:
            return NOW

        def build(base_url: str) -> Any:
            return create_app(e2e_settings(idp, base_url), sessions, clock=clock)

        with serve_on_loopback(build) as url:
            yield PagesSite(url, team, sessions)
    finally:
        empty_all_tables(database.engine)


OpenAs = Callable[[str], Any]


@pytest.fixture
def open_as(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """A phone-sized page signed in as someone; every page is photographed at the end."""
    opened: list[tuple[Any, Any, str]] = []

    def open_(site: PagesSite, who: str, *, width: int = 412, height: int = 900) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            extra_http_headers=site.team.headers(who),
            service_workers="block",
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        # Loopback only: "load images" must not reach the hostile mail's tracker for real.
        context.route(BEYOND_LOOPBACK, lambda route: route.abort())
        page = context.new_page()
        opened.append((context, page, who))
        return page

    yield open_
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for context, page, who in opened:
        try:
            page.screenshot(path=str(ARTIFACTS / f"pages-{name}-{who}.png"), full_page=True)
        finally:
            context.close()


def test_a_manager_and_a_salesperson_each_see_only_their_share(
    site: PagesSite, open_as: Callable[..., Any]
) -> None:
    # GIVEN Maria (manager of Anna and Ben) and Ben (salesperson)
    for who in ("maria", "ben"):
        page = open_as(site, who)
        # WHEN each searches everything and opens Acme's timeline
        page.goto(f"{site.url}/pages/search?q=%5B")
        found = {n for t in page.locator("a.subject").all_text_contents() for n in NAME.findall(t)}
        # THEN the search lists exactly what their role allows
        assert found == SEES[who], who
        page.goto(f"{site.url}/pages/accounts/{site.team.acme}")
        subjects = page.locator(".thread a.subject").all_text_contents()
        on_acme = {n for t in subjects for n in NAME.findall(t)}
        assert on_acme == SEES[who] & {"anna_mail", "crossed", "meeting", "suggested"}, who
    # AND Ben (his page is still open) cannot open Anna's email by its address
    answer = page.goto(f"{site.url}/pages/messages/{site.team.items['anna_mail'][1]}")
    assert answer is not None and answer.status == 404


def test_dashboard_draws_the_activity_charts(site: PagesSite, open_as: Callable[..., Any]) -> None:
    # GIVEN Maria's team with mail and a meeting in the last weeks
    page = open_as(site, "maria", width=1100, height=900)
    page.goto(f"{site.url}/pages/")
    # THEN one chart per person of the team is drawn, with bars, at a visible size
    charts = page.locator("figure.chart")
    assert sorted(charts.locator("figcaption").all_text_contents()) == sorted(
        ["Anna Seller 3", "Ben Seller 1", "Maria Manager 0"]
    )
    anna = charts.filter(has_text="Anna Seller")
    assert anna.locator("svg rect").count() >= 2
    box = anna.locator("svg").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 80
    # AND the stale deals and the open deals table are there
    assert page.locator("table.opps tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "pages-dashboard.png"), full_page=True)
    # AND it stays readable on a phone (no horizontal scrolling of the page itself)
    phone = open_as(site, "maria", width=360, height=800)
    phone.goto(f"{site.url}/pages/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360


PWNED_PROBE = "() => window.__pwned === undefined ? null : String(window.__pwned)"
FRAME_IMAGES = "() => Array.from(document.images, i => [i.src.split(',')[0], i.naturalWidth])"


def test_hostile_email_html_runs_no_script(site: PagesSite, open_as: Callable[..., Any]) -> None:
    # GIVEN an email whose HTML carries scripts, handlers, javascript: URLs, CSS
    # expressions, SVG and mXSS payloads (tests/web/pages/scenario.py HOSTILE_HTML)
    page = open_as(site, "anna")
    dialogs: list[str] = []
    console: list[str] = []
    errors: list[str] = []
    fetched_remote: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: console.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route(
        BEYOND_LOOPBACK, lambda route: (fetched_remote.append(route.request.url), route.abort())
    )
    # WHEN Anna opens it, with and without remote images, and clicks everything clickable
    item = site.team.items["anna_mail"][1]
    for query in ("", "?images=1"):
        page.goto(f"{site.url}/pages/messages/{item}{query}", wait_until="load")
        frame_element = page.locator("iframe.body")
        frame = frame_element.element_handle().content_frame()
        assert frame is not None
        frame.wait_for_load_state("load")
        # the body did render (the test is not passing on an empty frame)
        assert "Quarterly numbers attached." in frame.locator("body").inner_text()
        if not query:
            # AND until she asks, remote images are not fetched: a placeholder shows instead
            # (drawn, not a broken-image icon: the sandboxed frame can load it)
            assert fetched_remote == []
            images = frame.evaluate(FRAME_IMAGES)
            assert len(images) == 2, images
            assert all(src == "data:image/svg+xml;base64" and width > 0 for src, width in images)
            page.screenshot(path=str(ARTIFACTS / "pages-hostile-email.png"), full_page=True)
        for target in ("#js-link", "#submit-me", "details"):
            located = frame.locator(target)
            if located.count():
                located.first.click(timeout=2_000, no_wait_after=True)
        page.wait_for_timeout(300)
        # THEN no script ran: not on the page, not in the frame, no dialog, no PWNED log
        assert page.evaluate(PWNED_PROBE) is None
        for each in page.frames:
            assert each.evaluate(PWNED_PROBE) is None, each.url
        assert dialogs == []
        assert not [text for text in console if "PWNED" in text]
        assert errors == []
        # AND the page is still ours (no redirect, no overlay escaped the frame)
        assert page.url.startswith(f"{site.url}/pages/messages/{item}")
        assert page.locator("h1").inner_text().startswith("[anna_mail]")
    # AND once asked, the https tracker is requested (this test's browser is offline)
    assert fetched_remote == ["https://tracker.example/pixel.gif"]


# Last in the module: it changes the shared scenario (the suggestion is confirmed).
def test_confirming_a_suggested_link_takes_one_click(
    site: PagesSite, open_as: Callable[..., Any]
) -> None:
    # GIVEN Anna's queue holds the suggestion to link [suggested] to her second deal
    page = open_as(site, "anna")
    page.goto(f"{site.url}/pages/suggestions")
    card = page.locator(f"#suggestion-{site.team.suggestion}")
    assert "OPP-100002" in card.inner_text()
    # WHEN she clicks Confirm
    card.get_by_role("button", name="Confirm").click()
    # THEN the page says so and the queue is empty
    page.get_by_role("status").wait_for()
    assert "confirmed" in page.get_by_role("status").inner_text()
    assert page.locator("li.suggestion").count() == 0
    # AND the store holds Anna's person link to the deal, and the suggestion is confirmed
    with site.sessions() as session:
        item_id = site.team.items["suggested"][1]
        link = session.execute(
            select(Link).where(
                Link.item_kind == "message",
                Link.item_id == item_id,
                Link.target_kind == "opportunity",
                Link.target_id == site.team.anna_deal2,
            )
        ).scalar_one()
        assert (link.origin_kind, link.actor) == ("person", "anna@ourco.example")
        assert session.get(LinkSuggestion, site.team.suggestion).status == "confirmed"  # type: ignore[union-attr]
    # AND the email now shows on the deal's timeline, saying who linked it
    page.goto(f"{site.url}/pages/opportunities/{site.team.anna_deal2}")
    assert "linked by anna@ourco.example" in page.locator(".thread").inner_text()
