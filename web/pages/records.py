"""Record timelines (account, contact, opportunity), one email or meeting, and calendar exports."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.correspondence import Entry
from crm_store.items import ItemKind, TargetKind
from crm_store.models import Account, Contact, Meeting, Message, Opportunity, User
from crm_store.timeline import group_into_threads, record_entries, record_meetings, visible_entry
from web.deps import DbSession
from web.errors import NotFound
from web.pages.calendar_export import calendar_for
from web.pages.email_body import (
    BLOCKED_IMAGE,
    frame_csp,
    frame_document,
    sanitize_email_html,
    text_as_html,
)
from web.pages.lists import entries_csv
from web.pages.rendering import page
from web.pages.viewer import CurrentPageUser, Pages

router = APIRouter(include_in_schema=False)

RECORD_MODELS: dict[TargetKind, type[Account] | type[Contact] | type[Opportunity]] = {
    TargetKind.ACCOUNT: Account,
    TargetKind.CONTACT: Contact,
    TargetKind.OPPORTUNITY: Opportunity,
}


def _record(session: Session, kind: TargetKind, record_id: int) -> Account | Contact | Opportunity:
    model = RECORD_MODELS[kind]
    record = session.get(model, record_id)
    if not isinstance(record, Account | Contact | Opportunity):
        raise NotFound(f"no {kind.value} {record_id}")
    return record


def _owner_name(session: Session, owner_id: int | None) -> str | None:
    if owner_id is None:
        return None
    owner = session.get(User, owner_id)
    return (owner.display_name or owner.email) if owner else None


def _timeline(
    request: Request,
    pages: Pages,
    user: CurrentPageUser,
    session: Session,
    kind: TargetKind,
    record_id: int,
    format: str | None,
) -> Response:
    record = _record(session, kind, record_id)
    entries = record_entries(session, user.viewer, kind, record_id)
    if format == "csv":
        return entries_csv(f"{kind.value}-{record_id}-timeline.csv", entries)
    context: dict[str, Any] = {
        "user": user,
        "kind": kind.value,
        "record": record,
        "owner": _owner_name(session, getattr(record, "owner_id", None)),
        "threads": group_into_threads(entries),
        "count": len(entries),
        "opportunities": [],
        "account": None,
    }
    if isinstance(record, Account):
        context["opportunities"] = list(
            session.execute(
                select(Opportunity)
                .where(Opportunity.account_id == record.id)
                .order_by(Opportunity.status, Opportunity.code)
            ).scalars()
        )
    elif isinstance(record, Contact | Opportunity) and record.account_id is not None:
        account = session.get(Account, record.account_id)
        context["account"] = account
        if isinstance(record, Contact):
            context["owner"] = _owner_name(session, account.owner_id if account else None)
    return page(pages.templates, request, "pages/record.html", context)


@router.get("/pages/accounts/{record_id}")
def account_page(
    request: Request,
    record_id: int,
    pages: Pages,
    user: CurrentPageUser,
    session: DbSession,
    format: Literal["html", "csv"] | None = None,
) -> Response:
    return _timeline(request, pages, user, session, TargetKind.ACCOUNT, record_id, format)


@router.get("/pages/contacts/{record_id}")
def contact_page(
    request: Request,
    record_id: int,
    pages: Pages,
    user: CurrentPageUser,
    session: DbSession,
    format: Literal["html", "csv"] | None = None,
) -> Response:
    return _timeline(request, pages, user, session, TargetKind.CONTACT, record_id, format)


@router.get("/pages/opportunities/{record_id}")
def opportunity_page(
    request: Request,
    record_id: int,
    pages: Pages,
    user: CurrentPageUser,
    session: DbSession,
    format: Literal["html", "csv"] | None = None,
) -> Response:
    return _timeline(request, pages, user, session, TargetKind.OPPORTUNITY, record_id, format)


def _calendar(
    session: Session, user: CurrentPageUser, kind: TargetKind, record_id: int
) -> Response:
    record = _record(session, kind, record_id)
    label = record.code if isinstance(record, Opportunity) else getattr(record, "name", "")
    meetings = record_meetings(session, user.viewer, kind, record_id)
    body = calendar_for(meetings, name=f"{label} meetings")
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{kind.value}-{record_id}-meetings.ics"'
        },
    )


@router.get("/pages/opportunities/{record_id}/meetings.ics")
def opportunity_calendar(record_id: int, user: CurrentPageUser, session: DbSession) -> Response:
    return _calendar(session, user, TargetKind.OPPORTUNITY, record_id)


@router.get("/pages/accounts/{record_id}/meetings.ics")
def account_calendar(record_id: int, user: CurrentPageUser, session: DbSession) -> Response:
    return _calendar(session, user, TargetKind.ACCOUNT, record_id)


def _entry_or_404(session: Session, user: CurrentPageUser, kind: ItemKind, item_id: int) -> Entry:
    entry = visible_entry(session, user.viewer, kind, item_id)
    if entry is None:
        # Not "403": whether an item you may not see exists is itself not yours to know.
        raise NotFound(f"no {kind.value} {item_id} that you can see")
    return entry


@router.get("/pages/messages/{item_id}")
def message_page(
    request: Request,
    item_id: int,
    pages: Pages,
    user: CurrentPageUser,
    session: DbSession,
    images: bool = False,
) -> Response:
    entry = _entry_or_404(session, user, ItemKind.MESSAGE, item_id)
    message = session.get(Message, item_id)
    blocked = 0
    if message is not None and message.body_html:
        safe = sanitize_email_html(message.body_html, placeholder=BLOCKED_IMAGE)
        blocked = safe.blocked_images
    context = {"user": user, "entry": entry, "images": images, "blocked_images": blocked}
    return page(pages.templates, request, "pages/message.html", context)


@router.get("/pages/messages/{item_id}/body")
def message_body(
    request: Request,
    item_id: int,
    user: CurrentPageUser,
    session: DbSession,
    images: bool = False,
) -> Response:
    _entry_or_404(session, user, ItemKind.MESSAGE, item_id)
    message = session.get(Message, item_id)
    if message is None or not (message.body_html or message.body_text):
        body = text_as_html("(no body is stored for this email)")
    elif message.body_html:
        body = sanitize_email_html(message.body_html, placeholder=BLOCKED_IMAGE, load_images=images)
    else:
        body = text_as_html(message.body_text or "")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    return Response(
        frame_document(body),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": frame_csp(origin, images),
            "X-Frame-Options": "SAMEORIGIN",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/pages/meetings/{item_id}")
def meeting_page(
    request: Request, item_id: int, pages: Pages, user: CurrentPageUser, session: DbSession
) -> Response:
    entry = _entry_or_404(session, user, ItemKind.MEETING, item_id)
    meeting = session.get(Meeting, item_id)
    context = {"user": user, "entry": entry, "notes": meeting.body_text if meeting else None}
    return page(pages.templates, request, "pages/meeting.html", context)
