"""The browser session of the manager pages: a signed cookie, and CSRF tokens bound to it.

The cookie holds the user id and a random session id, signed (HMAC) with a
key from the environment and stamped with its issue time, so a stolen or
edited cookie is refused and an old one expires. ``HttpOnly`` keeps scripts
away from it and ``SameSite=Lax`` keeps other sites' forms from posting with
it; the CSRF token on every form (an HMAC of the session id) closes the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "mailsync_session"
FLOW_COOKIE = "mailsync_signin"
FLOW_MAX_AGE_SECONDS = 600


@dataclass(frozen=True, slots=True)
class BrowserSession:
    user_id: int
    session_id: str


class SessionSigner:
    def __init__(self, key: str, max_age_seconds: int) -> None:
        if len(key) < 32:
            raise ValueError("the session key must be at least 32 characters")
        self._key = key.encode("utf-8")
        self._sessions = URLSafeTimedSerializer(key, salt="mailsync.pages.session")
        self._flows = URLSafeTimedSerializer(key, salt="mailsync.pages.signin-flow")
        self.max_age_seconds = max_age_seconds

    def issue(self, user_id: int) -> str:
        return self._sessions.dumps({"u": user_id, "s": secrets.token_urlsafe(16)})

    def read(self, cookie: str | None) -> BrowserSession | None:
        """The session in the cookie, or None when absent, forged or expired."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=self.max_age_seconds)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), int):
            return None
        return BrowserSession(int(data["u"]), str(data.get("s", "")))

    def csrf_token(self, session: BrowserSession) -> str:
        message = f"csrf:{session.session_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def csrf_ok(self, session: BrowserSession, token: str) -> bool:
        return hmac.compare_digest(self.csrf_token(session), token)

    def seal_flow(self, flow: dict[str, Any]) -> str:
        """msal's half-done sign-in (state, nonce, PKCE verifier) kept by the browser."""
        return self._flows.dumps(flow)

    def open_flow(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie:
            return None
        try:
            flow = self._flows.loads(cookie, max_age=FLOW_MAX_AGE_SECONDS)
        except BadSignature:
            return None
        return flow if isinstance(flow, dict) else None
