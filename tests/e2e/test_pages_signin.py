"""Signing in to the manager pages in Chromium: msal's auth code flow with PKCE against the sandbox.

The sandbox plays Entra ID's authorize and token endpoints (HTTPS with its own
CA, which the web service's msal client trusts through ``[tenant] ca_bundle``;
the browser is told to accept it, as a person would accept their company's).
It has no password page: ``/authorize`` signs in the mailbox named by
``login_hint``, else the first one, and redirects back with a code. The web
service redeems the code (with the PKCE verifier kept in its sealed flow
cookie), finds the mailsync user and sets the session cookie; forms posted
with that cookie need the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_store.models import User
from mailsync.config import Settings
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from mailsync.sandbox.runner import SandboxHandle, running_sandbox
from tests.e2e.conftest import ARTIFACTS, AUDIENCE, INTERNAL_DOMAIN, UI_TIMEOUT_MS
from tests.e2e.servers import serve_on_loopback
from tests.factories import make_user
from web.app import create_app

SECRET_ENV = "MAILSYNC_E2E_SIGNIN_SECRET"
SESSION_KEY_ENV = "MAILSYNC_E2E_SESSION_KEY"
SESSION_COOKIE = "mailsync_session"
FLOW_COOKIE = "mailsync_signin"

# msal recommends response_mode=form_post; the pages use the query mode on purpose: a
# cross-site POST back would not carry the SameSite=Lax cookie that holds the PKCE verifier.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """Entra ID for the sign-in: two directory users, no mail needed."""
    with running_sandbox(seed=6, mailboxes=2, messages_per_mailbox=0) as handle:
        yield handle


@dataclass
class SignInSite:
    url: str
    sandbox: SandboxHandle
    member: str  # a mailsync user (the sandbox's first user, whom /authorize signs in)
    stranger: str  # in the directory, but not a mailsync user
    sessions: sessionmaker[Session]


def signin_settings(idp: EntraIdentityProvider, sandbox: SandboxHandle, base_url: str) -> Settings:
    return Settings.model_validate(
        {
            "tenant": {
                "tenant_id": sandbox.tenant,
                "client_id": sandbox.client_id,
                "client_secret_env": SECRET_ENV,
                "authority_host": sandbox.base_url,
                "ca_bundle": sandbox.ca_path,
            },
            "web": {
                "public_base_url": base_url,
                "entra": {
                    "tenant_id": idp.tenant_id,
                    "audience": AUDIENCE,
                    "issuer": idp.issuer,
                    "jwks_url": idp.jwks_url,
                },
            },
            "pages": {"signin": "entra", "session_key_env": SESSION_KEY_ENV},
            "rules": {"internal_domains": [INTERNAL_DOMAIN]},
        }
    )


@pytest.fixture
def site(
    idp: EntraIdentityProvider,
    sandbox: SandboxHandle,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SignInSite]:
    monkeypatch.setenv(SECRET_ENV, sandbox.client_secret)
    monkeypatch.setenv(SESSION_KEY_ENV, "e2e-session-key-" + "k" * 32)
    member, stranger = sandbox.mailboxes[0], sandbox.mailboxes[1]
    with session_factory() as session:
        make_user(session, email=member, display_name="Mona Member", role="manager")
        session.commit()

    def build(base_url: str) -> Any:
        return create_app(signin_settings(idp, sandbox, base_url), session_factory)

    with serve_on_loopback(build) as url:
        yield SignInSite(url, sandbox, member, stranger, session_factory)


@pytest.fixture
def browser_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    # The sandbox's CA is not the system's: accept its certificate in this browser only.
    context = browser.new_context(ignore_https_errors=True, service_workers="block")
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.replace("[", "-").replace("]", "")
    try:
        page.screenshot(path=str(ARTIFACTS / f"pages-signin-{name}.png"), full_page=True)
    finally:
        context.close()


def cookies(page: Any) -> dict[str, dict[str, Any]]:
    return {cookie["name"]: cookie for cookie in page.context.cookies()}


def test_sign_in_with_pkce_then_a_csrf_protected_sign_out(
    site: SignInSite, browser_page: Any
) -> None:
    page = browser_page
    authorize: list[str] = []
    page.on(
        "request",
        lambda request: authorize.append(request.url) if "/authorize" in request.url else None,
    )
    # GIVEN Mona, a mailsync user, not signed in
    # WHEN she opens a page, she is sent through /pages/login to Entra ID and back
    page.goto(f"{site.url}/pages/suggestions")
    # THEN she lands on the page she asked for, signed in as herself
    assert page.url == f"{site.url}/pages/suggestions"
    assert "Mona Member" in page.locator("header").inner_text()
    # AND the browser went to the authorize endpoint with an S256 code challenge (PKCE)
    assert len(authorize) == 1, authorize
    query = parse_qs(urlsplit(authorize[0]).query)
    assert authorize[0].startswith(f"{site.sandbox.base_url}/{site.sandbox.tenant}/")
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["redirect_uri"] == [f"{site.url}/pages/auth/callback"]
    # AND the session is an HttpOnly cookie; the half-done flow's cookie is gone
    jar = cookies(page)
    assert jar[SESSION_COOKIE]["httpOnly"] and jar[SESSION_COOKIE]["sameSite"] == "Lax"
    assert FLOW_COOKIE not in jar
    # AND her first sign-in bound her directory object id
    with site.sessions() as session:
        user = session.execute(select(User).where(User.email == site.member)).scalar_one()
        assert user.entra_object_id
    # WHEN a form posts to /pages/logout with her cookie but without the CSRF token
    for form in ({}, {"csrf": "0" * 64}):
        refused = page.request.post(f"{site.url}/pages/logout", form=form, max_redirects=0)
        # THEN it is refused and she stays signed in
        assert refused.status == 403, form
    still = page.request.get(f"{site.url}/pages/", max_redirects=0)
    assert still.status == 200 and "Mona Member" in still.text()
    # WHEN she signs out with the page's own form (which carries the token)
    page.locator("form[action='/pages/logout'] button").click()
    page.wait_for_url(f"{site.url}/pages/logout")
    # THEN the session cookie is gone and a page sends her to sign in again
    assert SESSION_COOKIE not in cookies(page)
    again = page.request.get(f"{site.url}/pages/", max_redirects=0)
    assert again.status == 303
    assert again.headers["location"].startswith("/pages/login")


def test_a_directory_user_who_is_no_mailsync_user_is_told_so(
    site: SignInSite, browser_page: Any
) -> None:
    # GIVEN someone in the directory whom no admin added to mailsync
    # WHEN they sign in
    answer = browser_page.goto(f"{site.url}/pages/login?login_hint={site.stranger}")
    # THEN they are refused with the reason, and no session is set
    assert answer is not None and answer.status == 403
    assert "not a mailsync user" in browser_page.locator("body").inner_text()
    assert SESSION_COOKIE not in cookies(browser_page)
