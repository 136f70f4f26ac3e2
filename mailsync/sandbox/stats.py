"""Request counters tests read: per mailbox and folder, concurrency, a bounded log.

"An idle second cycle makes exactly one request per folder" and "never more
than 4 concurrent requests per mailbox" are assertions about the client; the
server is the only honest place to count them.

Delta requests are also counted on their own: one sync reads a mailbox's
delta pages one after another (fetching one page ahead still leaves one delta
request in flight, beside its $batch of bodies), so two delta requests in
flight for one mailbox mean two syncs of it were running at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestStats:
    log_size: int = 20000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _per_folder: Counter[tuple[str, str]] = field(default_factory=Counter)
    _per_endpoint: Counter[str] = field(default_factory=Counter)
    _faults: Counter[str] = field(default_factory=Counter)
    _in_flight: Counter[str] = field(default_factory=Counter)
    _max_in_flight: dict[str, int] = field(default_factory=dict)
    _delta_in_flight: Counter[str] = field(default_factory=Counter)
    _max_delta_in_flight: dict[str, int] = field(default_factory=dict)
    _log: deque[dict[str, Any]] = field(default_factory=deque)
    _seq: int = 0

    def enter(self, mailbox: str, *, delta: bool = False) -> int:
        """Count a request in flight; returns the concurrency including this one."""
        with self._lock:
            self._in_flight[mailbox] += 1
            now = self._in_flight[mailbox]
            if now > self._max_in_flight.get(mailbox, 0):
                self._max_in_flight[mailbox] = now
            if delta:
                self._delta_in_flight[mailbox] += 1
                deltas = self._delta_in_flight[mailbox]
                if deltas > self._max_delta_in_flight.get(mailbox, 0):
                    self._max_delta_in_flight[mailbox] = deltas
            return now

    def leave(self, mailbox: str, *, delta: bool = False) -> None:
        with self._lock:
            self._in_flight[mailbox] -= 1
            if delta:
                self._delta_in_flight[mailbox] -= 1

    def record(
        self,
        *,
        method: str,
        path: str,
        endpoint: str,
        mailbox: str | None,
        folder: str | None,
        status: int,
        fault: str | None,
    ) -> None:
        with self._lock:
            self._seq += 1
            self._per_endpoint[endpoint] += 1
            if mailbox is not None:
                self._per_folder[(mailbox, folder or "")] += 1
            if fault:
                self._faults[fault] += 1
            self._log.append(
                {
                    "n": self._seq,
                    "time": time.time(),
                    "method": method,
                    "path": path,
                    "endpoint": endpoint,
                    "mailbox": mailbox,
                    "folder": folder,
                    "status": status,
                    "fault": fault,
                }
            )
            while len(self._log) > self.log_size:
                self._log.popleft()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            per_mailbox: dict[str, dict[str, int]] = {}
            for (mailbox, folder), n in self._per_folder.items():
                per_mailbox.setdefault(mailbox, {})[folder] = n
            return {
                "requests": self._seq,
                "per_mailbox_folder": per_mailbox,
                "per_endpoint": dict(self._per_endpoint),
                "faults": dict(self._faults),
                "in_flight": {k: v for k, v in self._in_flight.items() if v},
                "max_in_flight": dict(self._max_in_flight),
                "max_delta_in_flight": dict(self._max_delta_in_flight),
            }

    def requests_since(self, n: int) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for entry in self._log if entry["n"] > n]

    def reset(self) -> None:
        with self._lock:
            self._per_folder.clear()
            self._per_endpoint.clear()
            self._faults.clear()
            self._max_in_flight = {k: v for k, v in self._in_flight.items() if v}
            self._max_delta_in_flight = {k: v for k, v in self._delta_in_flight.items() if v}
            self._log.clear()
