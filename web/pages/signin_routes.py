"""/pages/login, /pages/auth/callback, /pages/logout: the browser's way in and out.

The user is found as the add-in API finds them (``web.auth.principal``):
by Entra object id, else by sign-in name; a name already bound to another
object id is refused, because the directory re-used it for someone else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.models import User
from web.deps import WriteSession
from web.pages.rendering import page
from web.pages.session import FLOW_COOKIE, FLOW_MAX_AGE_SECONDS, SESSION_COOKIE
from web.pages.signin_client import SignedInIdentity, SignInFailed
from web.pages.state import PagesState
from web.pages.viewer import CurrentPageUser, Pages, require_csrf

router = APIRouter(include_in_schema=False)
COOKIE_PATH = "/pages"
HOME = "/pages/"


def _safe_next(target: str | None) -> str:
    """Only our own pages: an open redirect would make the sign-in page a phishing tool."""
    if target and target.startswith("/pages/") and not target.startswith("//"):
        return target
    return HOME


def _secure(pages: PagesState) -> bool:
    return pages.public_base_url.startswith("https://")


@router.get("/pages/login")
def login(
    request: Request, pages: Pages, login_hint: str | None = None, next: str | None = None
) -> Response:
    if pages.signin is None or pages.signer is None:
        return page(pages.templates, request, "pages/signin_off.html", {}, status=401)
    try:
        flow = pages.signin.start(login_hint)
    except SignInFailed as exc:
        return page(pages.templates, request, "pages/signin_error.html", {"error": exc}, 503)
    flow["next"] = _safe_next(next)
    response = RedirectResponse(flow["auth_uri"], status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        pages.signer.seal_flow(flow),
        max_age=FLOW_MAX_AGE_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        secure=_secure(pages),
        samesite="lax",
    )
    return response


@router.get("/pages/auth/callback")
def callback(request: Request, pages: Pages, session: WriteSession) -> Response:
    if pages.signin is None or pages.signer is None:
        return page(pages.templates, request, "pages/signin_off.html", {}, status=401)
    flow = pages.signer.open_flow(request.cookies.get(FLOW_COOKIE))
    if flow is None:
        error = SignInFailed("this sign-in took too long or started in another browser")
        return page(pages.templates, request, "pages/signin_error.html", {"error": error}, 400)
    target = _safe_next(flow.pop("next", None))
    try:
        identity = pages.signin.finish(flow, dict(request.query_params))
        user = _user_for(session, identity)
    except SignInFailed as exc:
        return page(pages.templates, request, "pages/signin_error.html", {"error": exc}, 403)
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(FLOW_COOKIE, path=COOKIE_PATH)
    response.set_cookie(
        SESSION_COOKIE,
        pages.signer.issue(user.id),
        max_age=pages.signer.max_age_seconds,
        path=COOKIE_PATH,
        httponly=True,
        secure=_secure(pages),
        samesite="lax",
    )
    return response


def _user_for(session: Session, identity: SignedInIdentity) -> User:
    if identity.object_id:
        user = session.execute(
            select(User).where(User.entra_object_id == identity.object_id)
        ).scalar_one_or_none()
        if user is not None:
            return user
    if not identity.username:
        raise SignInFailed("the identity provider named no user")
    user = session.execute(
        select(User).where(func.lower(User.email) == identity.username.lower())
    ).scalar_one_or_none()
    if user is None:
        raise SignInFailed(f"{identity.username} is not a mailsync user; ask an admin to add you")
    if identity.object_id:
        if user.entra_object_id is None:
            user.entra_object_id = identity.object_id
        elif user.entra_object_id != identity.object_id:
            raise SignInFailed("this account does not match the directory user it was made for")
    return user


@router.post("/pages/logout")
def logout(
    request: Request, pages: Pages, user: CurrentPageUser, csrf: Annotated[str, Form()] = ""
) -> Response:
    require_csrf(user, pages, csrf)
    response = page(pages.templates, request, "pages/signed_out.html", {})
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response
