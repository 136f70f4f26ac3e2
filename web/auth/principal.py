"""Turn a bearer credential into the mailsync user making the request.

Entra tokens are matched to a user by object id (``oid``, stable across
renames), else by sign-in name, which must be the user's email; the first
match by name records the oid on the user so later renames still match. A
user already bound to another oid is refused: the name was re-used by a
different person in the directory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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


class Authenticator:
    def __init__(self, entra: EntraTokenValidator | None, clock: Callable[[], datetime]) -> None:
        self._entra = entra
        self._clock = clock

    def authenticate(self, session: Session, token: str) -> Principal:
        if looks_like_api_token(token):
            user = user_for_token(session, token, self._clock())
            if user is None:
                raise NotAuthenticated("unknown, revoked or expired API token")
            return _principal(user, "api_token")
        if self._entra is None:
            raise NotAuthenticated("Entra ID sign-in is not configured here; use an API token")
        identity = self._entra.validate(token)
        return _principal(_user_for_identity(session, identity), "entra")


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
    if identity.object_id is not None:
        if user.entra_object_id is None:
            user.entra_object_id = identity.object_id
        elif user.entra_object_id != identity.object_id:
            raise NotAuthenticated("token's directory object does not match this user")
    return user


def _principal(user: User, method: str) -> Principal:
    return Principal(user.id, user.email, user.role, user.display_name, method)
