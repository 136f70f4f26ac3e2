"""Search the correspondence the viewer may see, and the CRM's records by name."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from crm_store.items import TargetKind
from crm_store.models import User
from crm_store.search import SearchFilters, search_entries, search_records
from crm_store.visibility import reach_user_ids
from web.deps import DbSession
from web.errors import InvalidInput
from web.pages.lists import entries_csv
from web.pages.rendering import page
from web.pages.viewer import CurrentPageUser, Pages

router = APIRouter(include_in_schema=False)


def _record(value: str | None) -> tuple[TargetKind, int] | None:
    """``account:12`` → (ACCOUNT, 12); the form's record filter."""
    if not value:
        return None
    kind, _, ident = value.partition(":")
    try:
        return TargetKind(kind), int(ident)
    except ValueError:
        raise InvalidInput("record", "expected account:ID, contact:ID or opportunity:ID") from None


@router.get("/pages/search")
def search(
    request: Request,
    pages: Pages,
    user: CurrentPageUser,
    session: DbSession,
    q: str = Query(default="", max_length=200),
    salesperson: int | None = None,
    since: date | None = None,
    until: date | None = None,
    direction: Literal["inbound", "outbound", "internal", "meeting"] | None = None,
    record: str | None = Query(default=None, max_length=40),
    format: Literal["html", "csv"] | None = None,
) -> Response:
    try:
        filters = SearchFilters(
            text=q,
            salesperson_id=salesperson,
            since=since,
            until=until,
            direction=direction,
            record=_record(record),
        )
    except ValueError as exc:
        raise InvalidInput("since", str(exc)) from exc
    searched = bool(q.strip()) or any((salesperson, since, until, direction, record))
    entries = search_entries(session, user.viewer, filters) if searched else []
    if format == "csv":
        return entries_csv("search.csv", entries)
    people = session.execute(
        select(User.id, User.display_name, User.email)
        .where(reach_user_ids(user.viewer), User.role != "admin")
        .order_by(User.display_name)
    ).all()
    context = {
        "user": user,
        "q": q,
        "filters": filters,
        "record": record or "",
        "entries": entries,
        "records": search_records(session, q) if q.strip() else [],
        "people": people,
        "searched": searched,
    }
    return page(pages.templates, request, "pages/search.html", context)
