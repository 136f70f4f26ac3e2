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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import session_scope
from crm_store.models import User
from web.auth.api_tokens import looks_like_api_token, user_for_token
from web.auth.entra import EntraIdentity, EntraTokenValidator
from web.auth.errors import NotAuthenticated
from web.errors import Forbidden


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


@dataclass(frozen=True, slots=True)
class Authentication:
    """Who signed in, and the Entra object id to record on them once the request is over."""

    principal: Principal
    object_id_to_record: str | None = None


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

    def authenticate(self, session: Session, token: str) -> Principal:
        """The signed-in user; leaves an unrecorded oid for a later request to record."""
        return self.sign_in(session, token).principal

    def sign_in(self, session: Session, token: str) -> Authentication:
        """The signed-in user and the oid the caller should record after the request."""
        if looks_like_api_token(token):
            user = user_for_token(session, token, self._clock())
            if user is None:
                raise NotAuthenticated("unknown, revoked or expired API token")
            return Authentication(_principal(user, "api_token"))
        if self._entra is None:
            raise NotAuthenticated("Entra ID sign-in is not configured here; use an API token")
        identity = self._entra.validate(token)
        user = _user_for_identity(session, identity)
        unbound = identity.object_id if user.entra_object_id is None else None
        return Authentication(_principal(user, "entra"), unbound)

    def record_object_id(self, user_id: int, object_id: str) -> None:
        with session_scope(self._sessions, write=True) as writer:
            writer.execute(
                update(User)
                .where(User.id == user_id, User.entra_object_id.is_(None))
                .values(entra_object_id=object_id)
            )


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
