"""The team dashboard: activity charts, open deals with last contact, stale deals, suggestions."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from crm_store.activity import open_opportunities, stale_opportunities, weekly_activity
from crm_store.suggestion_queue import pending_suggestions
from web.deps import DbSession, State
from web.pages.charts import SERIES, team_charts
from web.pages.lists import activity_csv, opportunities_csv
from web.pages.rendering import page
from web.pages.viewer import CurrentPageUser, Pages

router = APIRouter(include_in_schema=False)

Weeks = Query(default=None, ge=1, le=52)
Days = Query(default=None, ge=1, le=365)


@router.get("/pages/")
def dashboard(
    request: Request,
    pages: Pages,
    state: State,
    user: CurrentPageUser,
    session: DbSession,
    weeks: int | None = Weeks,
    stale_days: int | None = Days,
) -> Response:
    now = state.clock()
    weeks = weeks or pages.reports.activity_weeks
    stale_after = stale_days or pages.reports.stale_after_days
    people = weekly_activity(session, user.viewer, weeks=weeks, now=now)
    opportunities = open_opportunities(session, user.viewer, now=now)
    stale_ids = {
        o.id for o in stale_opportunities(session, user.viewer, after_days=stale_after, now=now)
    }
    context = {
        "user": user,
        "now": now,
        "weeks": weeks,
        "stale_after": stale_after,
        "charts": team_charts(people),
        "series": SERIES,
        "opportunities": opportunities,
        "stale_ids": stale_ids,
        "stale_count": len(stale_ids),
        "suggestion_count": len(pending_suggestions(session, user.viewer)),
    }
    return page(pages.templates, request, "pages/dashboard.html", context)


@router.get("/pages/activity")
def activity_export(
    pages: Pages,
    state: State,
    user: CurrentPageUser,
    session: DbSession,
    weeks: int | None = Weeks,
    format: Literal["csv"] = "csv",
) -> Response:
    people = weekly_activity(
        session, user.viewer, weeks=weeks or pages.reports.activity_weeks, now=state.clock()
    )
    return activity_csv("activity.csv", people)


@router.get("/pages/opportunities")
def opportunities_list(
    request: Request,
    pages: Pages,
    state: State,
    user: CurrentPageUser,
    session: DbSession,
    stale: bool = False,
    stale_days: int | None = Days,
    format: Literal["html", "csv"] | None = None,
) -> Response:
    now = state.clock()
    stale_after = stale_days or pages.reports.stale_after_days
    if stale:
        rows = stale_opportunities(session, user.viewer, after_days=stale_after, now=now)
    else:
        rows = open_opportunities(session, user.viewer, now=now)
    if format == "csv":
        name = "stale-opportunities.csv" if stale else "open-opportunities.csv"
        return opportunities_csv(name, rows, now)
    context = {
        "user": user,
        "now": now,
        "stale": stale,
        "stale_after": stale_after,
        "opportunities": rows,
    }
    return page(pages.templates, request, "pages/opportunities.html", context)
