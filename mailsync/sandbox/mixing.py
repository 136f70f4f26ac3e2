"""Deterministic integer mixing, so any item can be regenerated from its coordinates.

``random.Random(str)`` would also be deterministic but is several times slower
to seed; the mailbox planner seeds one generator per thread, so the cost
matters at 200k messages. Python's own ``hash`` is salted for strings and must
never be used here.
"""

from __future__ import annotations

import random

_MASK = (1 << 64) - 1


def mix(*parts: int) -> int:
    """A 64-bit value that depends on every part (splitmix64 finaliser per part)."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & _MASK)) + 0x9E3779B97F4A7C15) & _MASK
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
        h ^= h >> 31
    return h


def rng_for(*parts: int) -> random.Random:
    return random.Random(mix(*parts))
