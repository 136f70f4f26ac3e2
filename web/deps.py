"""The routes' dependencies, as ``Annotated`` aliases so signatures say what they get.

Dependencies that do no I/O are ``async`` so FastAPI runs them on the event
loop instead of hopping to the thread pool for each (it adds up per request).

``DbSession`` is the request's unit of work: it commits when the route
returns and rolls back if it raises (the request owns the transaction).
``WriteSession`` is the same, but takes SQLite's write lock at BEGIN so a
request that reads then writes waits its turn instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from crm_store.database import session_scope
from web.auth.errors import NotAuthenticated
from web.auth.principal import Authentication, Principal
from web.rules_context import RulesContext
from web.state import WebState

bearer = HTTPBearer(
    auto_error=False,
    description="An Entra ID access token for this API (Office SSO / nested app "
    "authentication) or a personal API token (`mailsync users token create`).",
)


async def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


State = Annotated[WebState, Depends(web_state)]


def _read_session(state: State) -> Iterator[Session]:
    with session_scope(state.sessions) as session:
        yield session


def _write_session(state: State) -> Iterator[Session]:
    with session_scope(state.sessions, write=True) as session:
        yield session


# scope="function": commit before the response is sent. With FastAPI's default ("request")
# the commit ran after the client already had its 201, so a client reading right after a
# write (the task pane reloading an item's links) could miss it, and a failed commit was
# never reported to the client.
DbSession = Annotated[Session, Depends(_read_session, scope="function")]
WriteSession = Annotated[Session, Depends(_write_session, scope="function")]


async def _credentials(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise NotAuthenticated("no bearer token")
    return credentials.credentials.strip()


Credentials = Annotated[str, Depends(_credentials)]


def schedule_sign_in_writes(
    state: WebState, authentication: Authentication, later: BackgroundTasks
) -> Principal:
    """Queue what a sign-in asks to record (after the response, in its own transaction)."""
    if authentication.object_id_to_record is not None:
        later.add_task(
            state.authenticator.record_object_id,
            authentication.principal.user_id,
            authentication.object_id_to_record,
        )
    if authentication.token_use_to_record is not None:
        later.add_task(state.authenticator.record_token_use, authentication.token_use_to_record)
    return authentication.principal


def _principal(
    state: State, token: Credentials, session: DbSession, later: BackgroundTasks
) -> Principal:
    return schedule_sign_in_writes(state, state.authenticator.sign_in(session, token), later)


def _write_principal(
    state: State, token: Credentials, session: WriteSession, later: BackgroundTasks
) -> Principal:
    return schedule_sign_in_writes(state, state.authenticator.sign_in(session, token), later)


CurrentUser = Annotated[Principal, Depends(_principal)]
"""The signed-in user for routes that read (uses the request's DbSession)."""

WritingUser = Annotated[Principal, Depends(_write_principal)]
"""The signed-in user for routes that write (uses the request's WriteSession)."""


async def _rules(state: State) -> RulesContext:
    return state.rules


Rules = Annotated[RulesContext, Depends(_rules)]
