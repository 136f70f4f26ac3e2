"""Graph's per-mailbox limits and our per-tenant sync cap, as something a transport asks.

Outlook allows each app 4 concurrent requests and 10,000 requests per 10
minutes per mailbox. Going over earns 429s for *every* worker touching that
mailbox, so the budget is spent before a request leaves, not discovered after.
Over budget, the caller gets ``Throttled`` with the time a slot frees up: the
engine turns that into a later schedule, exactly as it does for a server 429,
so no worker ever sleeps on the budget.

Two implementations share these protocols: ``InProcessBudget`` (embedded
mode: one process sees every request) and ``mailsync.cluster.pg_budget``
(cluster mode: PostgreSQL advisory locks and an atomic window counter shared
by every worker on every machine).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

from mailsync.providers.base import Throttled

WINDOW_SECONDS = 600.0
"""Outlook's request budget is counted over 10 minutes."""

CONCURRENCY_RETRY_SECONDS = 1.0
"""When all of a mailbox's request slots are taken, try again this much later."""


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    max_concurrent_requests: int = 4
    requests_per_window: int = 10_000
    window_seconds: float = WINDOW_SECONDS
    max_concurrent_syncs: int = 32


class RequestBudget(Protocol):
    limits: BudgetLimits
    """The limits it enforces; a driver sizes its parallel requests to fit them."""

    def request(self, mailbox: str) -> AbstractContextManager[None]:
        """Hold one of ``mailbox``'s request slots and spend one request of its window.

        Raises ``Throttled`` (with the wait until room frees up) instead of waiting.
        """
        ...


class SyncSlots(Protocol):
    def sync_slot(self, tenant: str) -> AbstractContextManager[bool]:
        """True while this sync holds one of the tenant's slots; False: the tenant is full."""
        ...


def sliding_estimate(previous: int, current: int, elapsed_fraction: float) -> float:
    """Requests in the last window length, from two fixed windows' counts.

    The previous window's count is weighted by how much of it still overlaps
    the sliding window: a fixed window alone would let twice the budget through
    around a window boundary.
    """
    return previous * (1.0 - elapsed_fraction) + current


def seconds_until_room(
    previous: int, current: int, elapsed: float, limit: int, window: float, wanted: int
) -> float:
    """How long until ``wanted`` more requests fit under ``limit`` (at least a second)."""
    if current + wanted > limit or previous == 0:
        return max(1.0, window - elapsed)
    # previous * (1 - (elapsed + t) / window) + current + wanted <= limit
    t = window * (1.0 - (limit - current - wanted) / previous) - elapsed
    return max(1.0, math.ceil(min(t, window - elapsed)))


class InProcessBudget:
    """The budget for one process that makes every request itself (embedded mode)."""

    def __init__(
        self, limits: BudgetLimits, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._windows: dict[str, tuple[int, int, int]] = {}  # index, previous, current
        self._syncs: Counter[str] = Counter()

    @contextmanager
    def request(self, mailbox: str) -> Iterator[None]:
        limits = self.limits
        with self._lock:
            if self._in_flight[mailbox] >= limits.max_concurrent_requests:
                raise Throttled(
                    CONCURRENCY_RETRY_SECONDS,
                    f"(budget: {limits.max_concurrent_requests} requests to {mailbox} in flight)",
                )
            self._spend(mailbox)
            self._in_flight[mailbox] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[mailbox] -= 1

    def _spend(self, mailbox: str) -> None:
        window = self.limits.window_seconds
        now = self._clock()
        index = int(now // window)
        elapsed = now - index * window
        known, previous, current = self._windows.get(mailbox, (index, 0, 0))
        if known != index:
            previous = current if known == index - 1 else 0
            current = 0
        limit = self.limits.requests_per_window
        if sliding_estimate(previous, current + 1, elapsed / window) > limit:
            wait = seconds_until_room(previous, current, elapsed, limit, window, 1)
            raise Throttled(wait, f"(budget: {limit} requests per {window:g}s to {mailbox})")
        self._windows[mailbox] = (index, previous, current + 1)

    @contextmanager
    def sync_slot(self, tenant: str) -> Iterator[bool]:
        with self._lock:
            granted = self._syncs[tenant] < self.limits.max_concurrent_syncs
            if granted:
                self._syncs[tenant] += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._syncs[tenant] -= 1


def rotated(count: int) -> list[int]:
    """0..count-1 from a random start, so contenders spread over slots instead of queuing on 0."""
    start = random.randrange(count)
    return [(start + i) % count for i in range(count)]
