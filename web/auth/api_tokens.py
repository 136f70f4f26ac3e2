"""Personal API tokens: a random secret shown once, only its SHA-256 kept.

A token is ``msk_`` + 43 URL-safe characters (256 bits of randomness), so an
unsalted hash is enough: nobody can brute-force it, and the request can find
its row by the hash through a unique index. The prefix makes the kind of
credential recognisable (secret scanners, our own bearer dispatch).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from crm_store.models import ApiToken, User

TOKEN_PREFIX = "msk_"
SHOWN_PREFIX_LENGTH = 12


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    token_id: int
    prefix: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_api_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def issue_token(
    session: Session, user: User, *, name: str = "", expires_at: datetime | None = None
) -> IssuedToken:
    """Store a new token's hash for ``user``; the plaintext exists only in the result."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_sha256=hash_token(token),
        prefix=token[:SHOWN_PREFIX_LENGTH],
        name=name,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return IssuedToken(token, row.id, row.prefix)


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """A live token's user, which token it was (to record its use) and when it expires."""

    user: User
    token_id: int
    expires_at: datetime | None


def user_for_token(session: Session, token: str, now: datetime) -> TokenOwner | None:
    """The token's user if the token exists, is not revoked and has not expired (one query)."""
    row = session.execute(
        select(User, ApiToken.id, ApiToken.revoked_at, ApiToken.expires_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_sha256 == hash_token(token))
    ).one_or_none()
    if row is None:
        return None
    user, token_id, revoked_at, expires_at = row
    if revoked_at is not None or (expires_at is not None and expires_at <= now):
        return None
    return TokenOwner(user, int(token_id), expires_at)


def record_token_use(session: Session, token_id: int, at: datetime, every: timedelta) -> None:
    """Set ``last_used_at`` unless it was set less than ``every`` ago (by any process)."""
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= at - every),
        )
        .values(last_used_at=at)
    )
