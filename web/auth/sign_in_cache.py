"""Recent sign-ins by token hash, so a busy add-in is not re-authenticated on every request.

The task pane sends the same bearer token with every request for as long as
the token lives; checking its signature and reading its user each time cost
a query and most of a millisecond per request. A verified sign-in is kept
here under the SHA-256 of the token (never the token itself) until the
earliest of: the token's own expiry, and a short window after which it is
checked again, so a revoked API token or a changed role takes effect within
that window (``API_TOKEN_WINDOW`` / ``ENTRA_WINDOW``). Failures are never
cached: a forged token pays the full check every time, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

API_TOKEN_WINDOW = timedelta(seconds=30)
"""How long a personal API token's check is trusted (revocation takes effect within it)."""

ENTRA_WINDOW = timedelta(minutes=5)
"""How long an Entra sign-in's user mapping is trusted (the signature holds until ``exp``)."""

MAX_ENTRIES = 10_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    value: T
    until: datetime


class SignInCache(Generic[T]):
    """A bounded map token-hash → sign-in, each entry with its own deadline (LRU beyond that)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str, now: datetime) -> T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.until <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(self, key: str, value: T, until: datetime) -> None:
        with self._lock:
            self._entries[key] = _Entry(value, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
