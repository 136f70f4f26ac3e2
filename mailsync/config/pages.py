"""The ``[pages]`` section: how managers and salespeople sign in to the review pages.

The pages use the same Entra ID app registration as the rest of mailsync
(the ``[tenant]`` section): the browser goes through the OpenID Connect
authorization code flow (msal, with PKCE) and comes back to
``<public_base_url>/pages/auth/callback``, which must be registered as a
"Web" redirect URI of that app. The session then lives in a cookie signed
with a key read from an environment variable, never from the file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mailsync.config.errors import KeyedValueError
from mailsync.config.sections import Section
from mailsync.config.types import EnvVarName


class PagesSettings(Section):
    """Sign-in to the manager pages."""

    signin: Literal["api_token", "entra"] = "api_token"
    session_key_env: EnvVarName | None = None
    session_hours: int = Field(default=10, ge=1, le=168)

    @model_validator(mode="after")
    def _entra_needs_a_session_key(self) -> PagesSettings:
        if self.signin == "entra" and self.session_key_env is None:
            raise KeyedValueError(
                "session_key_env",
                "signin = 'entra' keeps the session in a signed cookie; name the environment "
                "variable holding its key (32+ random characters), e.g. "
                'session_key_env = "MAILSYNC_SESSION_KEY"',
            )
        return self
