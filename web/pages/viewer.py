"""Who is looking at a page: a browser session cookie, or a bearer token (scripts, tests).

A missing or expired session sends the browser to sign in (``SignInRequired``
is answered with a redirect); a bad bearer token is the API's 401. The role
is read from the store on every request, so a demoted manager loses their
team's view at the next click, not when the cookie expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from crm_store.models import User
from crm_store.visibility import Viewer
from web.deps import DbSession, State, WriteSession
from web.pages.session import SESSION_COOKIE, BrowserSession
from web.pages.state import PagesState, pages_state

Pages = Annotated[PagesState, Depends(pages_state)]


class SignInRequired(Exception):
    """No usable credential on a page request; the browser is sent to /pages/login."""


class BadCsrfToken(Exception):
    """A form was posted without this session's CSRF token (403)."""


@dataclass(frozen=True, slots=True)
class PageUser:
    viewer: Viewer
    display_name: str
    session: BrowserSession | None  # None: signed in with a bearer token
    csrf_token: str

    @property
    def email(self) -> str:
        return self.viewer.email


def _resolve(request: Request, state: State, pages: PagesState, session: Session) -> PageUser:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        principal = state.authenticator.authenticate(session, token.strip())
        viewer = Viewer(principal.user_id, principal.email, principal.role)
        return PageUser(viewer, principal.display_name or principal.email, None, "")
    if pages.signer is None:
        raise SignInRequired
    browser = pages.signer.read(request.cookies.get(SESSION_COOKIE))
    if browser is None:
        raise SignInRequired
    user = session.get(User, browser.user_id)
    if user is None:
        raise SignInRequired
    viewer = Viewer(user.id, user.email, user.role)
    return PageUser(
        viewer, user.display_name or user.email, browser, pages.signer.csrf_token(browser)
    )


def _page_user(request: Request, state: State, pages: Pages, session: DbSession) -> PageUser:
    return _resolve(request, state, pages, session)


def _writing_page_user(
    request: Request, state: State, pages: Pages, session: WriteSession
) -> PageUser:
    return _resolve(request, state, pages, session)


CurrentPageUser = Annotated[PageUser, Depends(_page_user)]
WritingPageUser = Annotated[PageUser, Depends(_writing_page_user)]


def require_csrf(user: PageUser, pages: PagesState, token: str) -> None:
    """Cookie sessions must prove the form came from our page; bearer calls cannot be forged."""
    if user.session is None:
        return
    if pages.signer is None or not pages.signer.csrf_ok(user.session, token):
        raise BadCsrfToken
