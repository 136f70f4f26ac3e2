"""Browser tests of the task pane: Debian's chromium, the real web service, a real store.

- The sandbox plays Entra ID (JWKS over loopback HTTP), once per session.
- Per test, the real web app (``web.app.create_app``) runs under uvicorn on a loopback port
  against the parametrized store (SQLite and PostgreSQL, the shared ``db`` fixtures), with the
  real rules.
- Per pane, a fresh browser context loads ``/addin/taskpane.html`` as served by that app
  (Office.js from node_modules), with ``office_double.js`` standing in for the Outlook host
  and its auth call. Requests to anything but loopback are refused and fail the test.
- Every pane is photographed into ``test-artifacts/e2e/`` when its test ends, pass or fail.

Chromium is never downloaded by Playwright: ``/usr/bin/chromium`` (apt) or nothing. Without
it the tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy.orm import Session, sessionmaker

from crm_store.models import Account, Contact, Opportunity, User
from mailsync.config import Settings
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.e2e.servers import serve_on_loopback
from tests.factories import make_account, make_contact, make_opportunity, make_user
from web.app import create_app

CHROMIUM = Path(os.environ.get("MAILSYNC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
REPOSITORY = Path(__file__).resolve().parents[2]
ARTIFACTS = REPOSITORY / "test-artifacts" / "e2e"
OFFICE_DOUBLE = Path(__file__).with_name("office_double.js")
PANE_PATH = "/addin/taskpane.html"
FUNCTION_FILE_PATH = "/addin/commands.html"  # the function file and the send events' runtime
PANE_VIEWPORT = {"width": 380, "height": 900}  # Outlook's task pane is 320-450 px wide
UI_TIMEOUT_MS = 10_000

AUDIENCE = "api://crm.ourco.example/e2e-task-pane"
INTERNAL_DOMAIN = "ourco.example"


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per module: Playwright's sync API keeps an event loop running
    in the main thread while it is open, which would break later tests that call
    ``asyncio.run`` if it lived for the whole session."""
    if not CHROMIUM.exists():
        message = (
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) "
            "to run the task pane's browser tests"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; under CI=true they must run", pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# --------------------------------------------------------------------------- identity


@pytest.fixture(scope="session")
def idp() -> Iterator[EntraIdentityProvider]:
    holder: dict[str, EntraIdentityProvider] = {}

    def build(base_url: str) -> Any:
        holder["idp"] = EntraIdentityProvider(base_url=base_url)
        return holder["idp"].asgi_app()

    with serve_on_loopback(build):
        yield holder["idp"]


def token_for(idp: EntraIdentityProvider, email: str, *, expired: bool = False) -> str:
    """An access token like Office SSO hands the add-in; ``expired`` ended an hour ago."""
    if expired:
        return idp.access_token(
            audience=AUDIENCE, username=email, issued_at=time.time() - 7200, lifetime=3600
        )
    return idp.access_token(audience=AUDIENCE, username=email)


# --------------------------------------------------------------------------- web service


def e2e_settings(idp: EntraIdentityProvider, base_url: str) -> Settings:
    return Settings.model_validate(
        {
            "web": {
                "public_base_url": base_url,
                "entra": {
                    "tenant_id": idp.tenant_id,
                    "audience": AUDIENCE,
                    "issuer": idp.issuer,
                    "jwks_url": idp.jwks_url,
                },
            },
            "rules": {"internal_domains": [INTERNAL_DOMAIN]},
        }
    )


@dataclass
class WebService:
    """The running web app and what the tests need to talk to it as a user would."""

    url: str
    settings: Settings
    sessions: sessionmaker[Session]
    idp: EntraIdentityProvider

    def api(self, email: str) -> httpx.Client:
        """An API client signed in as ``email`` (to check what the pane did, in the store)."""
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {token_for(self.idp, email)}"},
            timeout=10,
        )


@pytest.fixture
def web(idp: EntraIdentityProvider, session_factory: sessionmaker[Session]) -> Iterator[WebService]:
    settings_holder: dict[str, Settings] = {}

    def build(base_url: str) -> Any:
        settings_holder["settings"] = e2e_settings(idp, base_url)
        return create_app(settings_holder["settings"], session_factory)

    with serve_on_loopback(build) as url:
        yield WebService(url, settings_holder["settings"], session_factory, idp)


# --------------------------------------------------------------------------- CRM data


@dataclass(frozen=True)
class Crm:
    """A seller, their customer Acme (one known contact) and two open deals there.

    The rules infer ``renewal`` (the seller's only open deal at Acme) for Jane's mail;
    ``expansion`` belongs to a colleague, so only a person links it.
    """

    seller: str
    colleague: str
    acme_id: int
    jane_id: int
    jane: str
    renewal_id: int
    renewal: str
    expansion_id: int
    expansion: str


@pytest.fixture
def crm(session_factory: sessionmaker[Session]) -> Crm:
    with session_factory() as session:
        seller: User = make_user(
            session, email="sam.seller@ourco.example", display_name="Sam Seller"
        )
        colleague: User = make_user(
            session, email="cara.colleague@ourco.example", display_name="Cara Colleague"
        )
        acme: Account = make_account(
            session, name="Acme Corporation", domains=["acme.example"], owner=seller
        )
        jane: Contact = make_contact(
            session,
            account=acme,
            emails=["jane.roe@acme.example"],
            first_name="Jane",
            last_name="Roe",
            title="Head of Purchasing",
        )
        renewal: Opportunity = make_opportunity(
            session, account=acme, code="OPP-000101", name="Acme renewal 2026", owner=seller
        )
        expansion: Opportunity = make_opportunity(
            session,
            account=acme,
            code="OPP-000102",
            name="Acme EMEA expansion",
            owner=colleague,
            stage="proposal",
        )
        # Both have signed in before (their directory object id is on record), as a
        # salesperson using the pane has; the first sign-in itself is the web tests' business.
        for user in (seller, colleague):
            user.entra_object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, user.email))
        session.commit()
        return Crm(
            seller=seller.email,
            colleague=colleague.email,
            acme_id=acme.id,
            jane_id=jane.id,
            jane="jane.roe@acme.example",
            renewal_id=renewal.id,
            renewal="OPP-000101 Acme renewal 2026",
            expansion_id=expansion.id,
            expansion="OPP-000102 Acme EMEA expansion",
        )


# --------------------------------------------------------------------------- the pane


@dataclass
class Pane:
    """One task pane in its own browser context, with the host double's record."""

    page: Any
    page_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def wait_ready(self) -> None:
        """The pane has loaded its item: the search box shows only in the ready state."""
        self.page.locator("#search").wait_for(state="visible", timeout=UI_TIMEOUT_MS)

    def button(self, action: str, target: str) -> Any:
        return self.page.locator(f'button[data-action="{action}"][data-target="{target}"]')

    def double(self) -> dict[str, Any]:
        record: dict[str, Any] = self.page.evaluate("window.__officeDouble")
        return record

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def person(name: str, address: str) -> dict[str, str]:
    """An Office.js EmailAddressDetails."""
    return {"displayName": name, "emailAddress": address}


OpenPane = Callable[..., Pane]
# Anything but loopback, as a regex the browser driver matches itself (no round trip to
# Python for the pane's own requests).
_BEYOND_LOOPBACK = re.compile(
    r"^(?!(https?://(127\.0\.0\.1|localhost)(:\d+)?/|data:|about:|blob:))"
)


@pytest.fixture
def open_pane(browser: Any, web: WebService, request: pytest.FixtureRequest) -> Iterator[OpenPane]:
    """Open the task pane (or, with ``path``, the function file) on an item; photographs each
    page and closes it when the test ends."""
    panes: list[tuple[Any, Pane]] = []
    lock = threading.Lock()

    def open_(
        item: dict[str, Any] | None,
        *,
        user: str,
        mode: str = "read",
        silent_token: str | None = None,
        token_after_sign_in: str | None = None,
        wait: bool = True,
        block_api: bool = False,
        path: str = PANE_PATH,
    ) -> Pane:
        context = browser.new_context(viewport=PANE_VIEWPORT, service_workers="block")
        context.set_default_timeout(UI_TIMEOUT_MS)
        page = context.new_page()
        pane = Pane(page)
        with lock:
            panes.append((context, pane))
        page.on("pageerror", lambda error: pane.page_errors.append(str(error)))

        def refuse_foreign(route: Any) -> None:
            pane.foreign_requests.append(route.request.url)
            route.abort()

        # Only requests beyond loopback are intercepted (routing every request is slow).
        page.route(_BEYOND_LOOPBACK, refuse_foreign)
        if block_api:
            page.route("**/api/**", lambda route: route.abort("connectionrefused"))
        good = token_for(web.idp, user)
        config = {
            "mode": mode,
            "item": item,
            "user": {"displayName": user.partition("@")[0], "emailAddress": user},
            "tokens": {
                "silent": good if silent_token is None else silent_token,
                "afterSignIn": token_after_sign_in or good,
            },
        }
        page.add_init_script(
            f"window.__officeDoubleConfig = {json.dumps(config)};\n"
            + OFFICE_DOUBLE.read_text(encoding="utf-8")
        )
        # Not waiting for "load": office.js's telemetry frame (refused by our CSP) delays it.
        page.goto(f"{web.url}{path}", wait_until="domcontentloaded")
        if wait:
            pane.wait_ready()
        return pane

    yield open_

    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for number, (context, pane) in enumerate(panes, start=1):
        suffix = "" if len(panes) == 1 else f"-{number}"
        try:
            pane.screenshot(f"{test_name}{suffix}")
        finally:
            context.close()
    for _, pane in panes:
        assert not pane.foreign_requests, (
            f"the pane called beyond loopback: {pane.foreign_requests}"
        )
        assert not pane.page_errors, f"uncaught errors in the pane: {pane.page_errors}"
