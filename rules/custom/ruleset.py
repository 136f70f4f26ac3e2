"""A custom rule and an ordered rule set, as loaded and validated from TOML."""

from __future__ import annotations

from dataclasses import dataclass

from rules.custom.actions import Action
from rules.custom.conditions import Condition


@dataclass(frozen=True, slots=True)
class CustomRule:
    name: str
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]
    enabled: bool = True
    stop_processing: bool = False


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[CustomRule, ...] = ()

    @property
    def active(self) -> tuple[CustomRule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)


EMPTY_RULESET = RuleSet()
