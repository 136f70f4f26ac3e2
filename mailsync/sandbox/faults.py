"""Fault injection: what goes wrong, how often, decided by a seeded generator.

Two sources of faults: a random rate over chosen kinds (for chaos runs), and
scripted faults queued by a test ("the next delta request of mailbox X gets a
410"), which make each kind observable deterministically. Malformed items are
not decided here per request: they are a fixed property of items (see
``World.is_malformed``) so ground truth can list them.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from enum import StrEnum


class FaultKind(StrEnum):
    THROTTLE = "429"
    UNAVAILABLE = "503"
    GONE = "410"
    UNAUTHORIZED = "401"
    DROP = "drop"


ALL_REQUEST_FAULTS = tuple(FaultKind)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    retry_after: float = 0.0


@dataclass(slots=True)
class ScriptedFault:
    kind: FaultKind
    remaining: int
    mailbox: str | None = None
    folder: str | None = None
    endpoint: str | None = None
    retry_after: float | None = None

    def matches(self, mailbox: str | None, folder: str | None, endpoint: str) -> bool:
        return (
            (self.mailbox is None or (mailbox or "").lower() == self.mailbox.lower())
            and (self.folder is None or folder == self.folder)
            and (self.endpoint is None or endpoint == self.endpoint)
        )


@dataclass(slots=True)
class FaultInjector:
    """Decides per Graph request whether and how it fails; thread-safe."""

    seed: int = 0
    rate: float = 0.0
    kinds: tuple[FaultKind, ...] = ALL_REQUEST_FAULTS
    max_retry_after: float = 2.0
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _script: list[ScriptedFault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed ^ 0x5EED)
        self._validate(self.rate, self.kinds)

    @staticmethod
    def _validate(rate: float, kinds: tuple[FaultKind, ...]) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        if rate and not kinds:
            raise ValueError("a fault rate needs at least one fault kind")

    def configure(self, rate: float, kinds: tuple[FaultKind, ...] | None = None) -> None:
        kinds = self.kinds if kinds is None else kinds
        self._validate(rate, kinds)
        with self._lock:
            self.rate, self.kinds = rate, kinds

    def script(self, fault: ScriptedFault) -> None:
        with self._lock:
            self._script.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._script.clear()
            self.rate = 0.0

    def decide(
        self, *, mailbox: str | None, folder: str | None, endpoint: str, has_delta_token: bool
    ) -> Fault | None:
        """The fault for this request, if any; 410 only hits requests carrying a delta token."""
        with self._lock:
            for scripted in self._script:
                if scripted.kind == FaultKind.GONE and not has_delta_token:
                    continue
                if scripted.remaining > 0 and scripted.matches(mailbox, folder, endpoint):
                    scripted.remaining -= 1
                    if scripted.remaining == 0:
                        self._script.remove(scripted)
                    retry = scripted.retry_after
                    if retry is None:
                        retry = self._retry_after()
                    return Fault(scripted.kind, retry)
            if self.rate <= 0 or self._rng.random() >= self.rate:
                return None
            usable = [k for k in self.kinds if k != FaultKind.GONE or has_delta_token]
            if not usable:
                return None
            return Fault(self._rng.choice(usable), self._retry_after())

    def _retry_after(self) -> float:
        # Graph's Retry-After may be fractional (e.g. 2.128); keep it short for tests.
        return round(self._rng.uniform(0.0, self.max_retry_after), 3)
