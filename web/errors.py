"""Domain errors the routes raise and the app turns into HTTP answers (see web.app)."""

from __future__ import annotations


class Forbidden(Exception):
    """Authenticated, but this user may not see or change what was asked for (403)."""


class NotFound(LookupError):
    """The item or record named in the request is not in the store (404)."""


class Conflict(Exception):
    """The request would duplicate something that must be unique (409)."""


class InvalidInput(ValueError):
    """A request value that passed parsing but is not acceptable; ``field`` names it (422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
