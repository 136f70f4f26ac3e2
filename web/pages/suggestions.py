"""The queue of suggested links, with confirm and reject as one-click forms."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from crm_store.suggestion_queue import (
    SuggestionNotFound,
    confirm_suggestion,
    pending_suggestions,
    reject_suggestion,
)
from web.deps import DbSession, WriteSession
from web.errors import NotFound
from web.pages.lists import suggestions_csv
from web.pages.rendering import page
from web.pages.viewer import CurrentPageUser, Pages, WritingPageUser, require_csrf

router = APIRouter(include_in_schema=False)


@router.get("/pages/suggestions")
def suggestions(
    request: Request,
    pages: Pages,
    user: CurrentPageUser,
    session: DbSession,
    done: str | None = None,
    format: Literal["html", "csv"] | None = None,
) -> Response:
    pending = pending_suggestions(session, user.viewer)
    if format == "csv":
        return suggestions_csv("suggestions.csv", pending)
    context = {"user": user, "suggestions": pending, "done": done}
    return page(pages.templates, request, "pages/suggestions.html", context)


@router.post("/pages/suggestions/{suggestion_id}/{decision}")
def decide(
    suggestion_id: int,
    decision: Literal["confirm", "reject"],
    pages: Pages,
    user: WritingPageUser,
    session: WriteSession,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    require_csrf(user, pages, csrf)
    try:
        if decision == "confirm":
            confirm_suggestion(session, user.viewer, suggestion_id)
        else:
            reject_suggestion(session, user.viewer, suggestion_id)
    except SuggestionNotFound as exc:
        raise NotFound(str(exc)) from exc
    done = "confirmed" if decision == "confirm" else "rejected"
    return RedirectResponse(f"/pages/suggestions?done={done}", status_code=303)
