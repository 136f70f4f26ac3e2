"""Turn a bearer credential into the mailsync user making the request.

Entra tokens are matched to a user by object id (``oid``, stable across
renames), else by sign-in name, which must be the user's email; the first
match by name records the oid on the user so later renames still match. A
user already bound to another oid is refused: the name was re-used by a
different person in the directory.

Recording the oid is its own small write transaction, run after the
response (a background task), not part of the request's: most requests only
read, and on SQLite a reading transaction that starts writing fails at once
("database is locked") when the pane's parallel first requests all try to
record the same oid; and a writing request already holds SQLite's one write
lock. The UPDATE only fills an empty oid, so the racing ones change nothing.
An API token's ``last_used_at`` is recorded the same way, at most once a
minute per token and process (``TOKEN_USE_INTERVAL``; the UPDATE's own
condition keeps several processes to about that too).

A verified sign-in is remembered for a short while by token hash
(``web.auth.sign_in_cache``), so the add-in's steady stream of requests costs
no query and no signature check; ``recent`` answers from that memory alone,
which lets the hot lookup route authenticate without a thread hop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import session_scope
from crm_store.models import User
from crm_store.visibility import Viewer
from web.auth.api_tokens import (
    hash_token,
    looks_like_api_token,
    record_token_use,
    user_for_token,
)
from web.auth.entra import EntraIdentity, EntraTokenValidator
from web.auth.errors import NotAuthenticated
from web.auth.sign_in_cache import API_TOKEN_WINDOW, ENTRA_WINDOW, SignInCache
from web.errors import Forbidden

TOKEN_USE_INTERVAL = timedelta(minutes=1)
"""``api_tokens.last_used_at`` is written at most this often per token: a hint for whoever
reviews tokens ("unused since March"), not an audit log, so it must not cost a write per request."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user, as the routes and the access policy see them."""

    user_id: int
    email: str
    role: str
    display_name: str
    method: str  # "entra" | "api_token"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    @property
    def viewer(self) -> Viewer:
        """This user as the access policy (``crm_store.visibility``) knows them."""
        return Viewer(self.user_id, self.email, self.role)


@dataclass(frozen=True, slots=True)
class Authentication:
    """Who signed in, and what to record about it once the request is over.

    ``object_id_to_record``: the Entra oid to bind to the user;
    ``token_use_to_record``: the API token whose ``last_used_at`` is due.
    """

    principal: Principal
    object_id_to_record: str | None = None
    token_use_to_record: int | None = None


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    token_id: int | None


class Authenticator:
    def __init__(
        self,
        entra: EntraTokenValidator | None,
        clock: Callable[[], datetime],
        sessions: sessionmaker[Session],
    ) -> None:
        self._entra = entra
        self._clock = clock
        self._sessions = sessions
        self._verified: SignInCache[_Verified] = SignInCache()
        self._token_use_recorded: dict[int, datetime] = {}
        self._token_use_lock = threading.Lock()

    def authenticate(self, session: Session, token: str) -> Principal:
        """The signed-in user; leaves an unrecorded oid for a later request to record."""
        return self.sign_in(session, token).principal

    def recent(self, token: str) -> Authentication | None:
        """The sign-in verified for this token a moment ago, if any (no I/O: safe on the loop)."""
        now = self._clock()
        verified = self._verified.get(hash_token(token), now)
        if verified is None:
            return None
        return Authentication(verified.principal, None, self._token_use_due(verified.token_id, now))

    def sign_in(self, session: Session, token: str) -> Authentication:
        """The signed-in user and what the caller should record after the request."""
        recent = self.recent(token)
        if recent is not None:
            return recent
        now = self._clock()
        if looks_like_api_token(token):
            owner = user_for_token(session, token, now)
            if owner is None:
                raise NotAuthenticated("unknown, revoked or expired API token")
            principal = _principal(owner.user, "api_token")
            until = _earliest(now + API_TOKEN_WINDOW, owner.expires_at)
            self._verified.put(hash_token(token), _Verified(principal, owner.token_id), until)
            return Authentication(principal, None, self._token_use_due(owner.token_id, now))
        if self._entra is None:
            raise NotAuthenticated("Entra ID sign-in is not configured here; use an API token")
        identity = self._entra.validate(token)
        user = _user_for_identity(session, identity)
        principal = _principal(user, "entra")
        if user.entra_object_id is not None or identity.object_id is None:
            # Only a fully bound user is remembered: an unbound one must record its oid first.
            until = _earliest(now + ENTRA_WINDOW, identity.expires_at)
            self._verified.put(hash_token(token), _Verified(principal, None), until)
            return Authentication(principal)
        return Authentication(principal, identity.object_id)

    def _token_use_due(self, token_id: int | None, now: datetime) -> int | None:
        """``token_id`` if this process has not recorded its use in the last minute."""
        if token_id is None:
            return None
        with self._token_use_lock:
            last = self._token_use_recorded.get(token_id)
            if last is not None and now - last < TOKEN_USE_INTERVAL:
                return None
            self._token_use_recorded[token_id] = now
        return token_id

    def record_object_id(self, user_id: int, object_id: str) -> None:
        with session_scope(self._sessions, write=True) as writer:
            writer.execute(
                update(User)
                .where(User.id == user_id, User.entra_object_id.is_(None))
                .values(entra_object_id=object_id)
            )

    def record_token_use(self, token_id: int) -> None:
        """Its own short transaction after the response: reads stay reads."""
        with session_scope(self._sessions, write=True) as writer:
            record_token_use(writer, token_id, self._clock(), TOKEN_USE_INTERVAL)


def _earliest(window_end: datetime, expires_at: datetime | None) -> datetime:
    return window_end if expires_at is None else min(window_end, expires_at)


def _user_for_identity(session: Session, identity: EntraIdentity) -> User:
    if identity.object_id is not None:
        user = session.execute(
            select(User).where(User.entra_object_id == identity.object_id)
        ).scalar_one_or_none()
        if user is not None:
            return user
    if identity.username is None:
        raise NotAuthenticated("token names no user (no oid match and no preferred_username)")
    user = session.execute(
        select(User).where(func.lower(User.email) == identity.username.lower())
    ).scalar_one_or_none()
    if user is None:
        raise Forbidden(f"{identity.username} is not a mailsync user; ask an admin to add you")
    if identity.object_id is not None and user.entra_object_id not in (None, identity.object_id):
        raise NotAuthenticated("token's directory object does not match this user")
    return user


def _principal(user: User, method: str) -> Principal:
    return Principal(user.id, user.email, user.role, user.display_name, method)
