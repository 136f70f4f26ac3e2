"""``GET /metrics``: the figures of ``mailsync status`` in Prometheus' text format.

The figures name every mailbox address, so the route needs a bearer token:
the scrape token (``[web] metrics_token_env``, what Prometheus is configured
with), or the personal API token of an admin (a person checking by hand with
curl). Entra access tokens are not taken: they are minted for the add-in's
users, and a scraper has none.

Closed by default: without a configured scrape token only admins' API tokens
get in. An open default would publish the company's mailbox addresses to
anyone who can reach the port the moment the service is started, and an
operator finds out only later; a closed one fails loudly at the first
scrape (401) with the key to set. Nothing local depends on it being open:
``mailsync status`` computes the same figures straight from the store
(``mailsync.cluster.figures``), not over HTTP.

A non-admin's valid API token is refused with 403, not 401: the token is
fine, the person is not allowed, and a fresh token would not change that.

"Live workers" are those with a heartbeat within ``[daemon]
stalled_worker_seconds``: the threshold after which the ticker takes a worker
for dead and queues its running syncs again, and the one ``mailsync status``
uses, so the three never disagree about which workers are alive.

With ``[push] enabled``, the push coverage gauges follow: how many mailboxes
every Graph subscription covers, the others by reason, each mailbox's 0/1 and
the next creation attempt of a failing subscription.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from mailsync.cluster.figures import freshness, prometheus_text, push_figures, queue_figures
from web.auth.api_tokens import looks_like_api_token
from web.auth.errors import NotAuthenticated
from web.auth.scrape_token import KEY, ScrapeToken
from web.deps import Credentials, DbSession, State, schedule_sign_in_writes
from web.errors import Forbidden
from web.state import WebState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_router(
    scrape_token: ScrapeToken | None, stalled_worker_seconds: float, *, push_enabled: bool
) -> APIRouter:
    """The route, given the scrape token (None: admins' API tokens only), the stall
    threshold, and whether push coverage matters (``[push] enabled``)."""
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", summary="Queue, freshness and push coverage figures for Prometheus")
    def metrics(
        state: State, token: Credentials, session: DbSession, later: BackgroundTasks
    ) -> PlainTextResponse:
        _admit(state, session, token, later, scrape_token)
        queue = queue_figures(session, stalled_worker_seconds)
        now = state.clock()
        mailboxes = freshness(session, now)
        push = push_figures(session, push_enabled, now)
        return PlainTextResponse(prometheus_text(queue, mailboxes, push), media_type=CONTENT_TYPE)

    return router


def _admit(
    state: WebState,
    session: Session,
    token: str,
    later: BackgroundTasks,
    scrape_token: ScrapeToken | None,
) -> None:
    if scrape_token is not None and scrape_token.matches(token):
        return
    if looks_like_api_token(token):
        signed_in = state.authenticator.sign_in(session, token)
        principal = schedule_sign_in_writes(state, signed_in, later)
        if not principal.is_admin:
            raise Forbidden(
                f"{principal.email} is not an admin; /metrics takes an admin's API token "
                f"or the scrape token ({KEY})"
            )
        return
    if scrape_token is None:
        raise NotAuthenticated(
            f"no scrape token is configured here ({KEY}); send an admin's API token"
        )
    raise NotAuthenticated("not the scrape token, nor an API token")
