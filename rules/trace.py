"""What each step did for one item: the material of `rules explain`.

The engine only records steps when asked (explain, dry-run samples); the sync
path passes no trace and pays nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_store.items import LinkSpec


@dataclass(frozen=True, slots=True)
class StepReport:
    """One built-in matcher, exclusion or custom rule, and whether it fired and why."""

    step: str
    fired: bool
    why: str
    links: tuple[LinkSpec, ...] = ()


Trace = list[StepReport]
