"""Why a request is not authenticated; the text goes into the 401 body and log, never a secret."""

from __future__ import annotations


class NotAuthenticated(Exception):
    """The credential is missing, malformed, forged, expired or meant for someone else."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IdentityProviderUnavailable(Exception):
    """The tenant's signing keys could not be fetched: a 503, not the caller's fault."""
