"""The Prometheus scrape token: a shared secret for ``GET /metrics``, from the environment.

Prometheus cannot sign in as a person, so it sends one static bearer token
(``authorization: credentials_file`` in its scrape config). The config names
only the environment variable that holds it (``[web] metrics_token_env``),
like every other secret. It is read when the app is built, so a variable
that is missing or too short stops `mailsync serve` at start with the key
and the fix, not at the first scrape.

Only the token's SHA-256 is kept, and a candidate's digest is compared with
``hmac.compare_digest``: equal-length digests compared in constant time, so
the response time says nothing about how much of a guess was right, and
nothing about the token's length either.
"""

from __future__ import annotations

import hmac

from mailsync.config import ConfigError, ConfigProblem, Settings
from web.auth.api_tokens import hash_token

KEY = "web.metrics_token_env"
MIN_LENGTH = 32
"""Characters; ``openssl rand -base64 32`` gives 44. A short shared secret can be guessed."""


class ScrapeToken:
    def __init__(self, token: str) -> None:
        self._digest = hash_token(token)

    def matches(self, candidate: str) -> bool:
        return hmac.compare_digest(hash_token(candidate), self._digest)


def scrape_token_from(settings: Settings) -> ScrapeToken | None:
    """The configured scrape token; None when ``[web] metrics_token_env`` is not set."""
    variable = settings.web.metrics_token_env
    if variable is None:
        return None
    token = settings.read_secret(KEY).strip()
    if len(token) < MIN_LENGTH:
        raise ConfigError(
            settings.source,
            [
                ConfigProblem(
                    KEY,
                    f"names the environment variable {variable}, whose value has only "
                    f"{len(token)} characters; a scrape token needs at least {MIN_LENGTH}",
                    f"export {variable}=$(openssl rand -base64 32), and give Prometheus "
                    "the same value",
                )
            ],
        )
    return ScrapeToken(token)
