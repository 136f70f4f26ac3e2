"""A problem in a rules file, worded so the author can fix it without the docs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RuleError:
    """``rule`` is the rule's name (or ``#N`` before it has one, or the file for syntax)."""

    rule: str
    key: str
    problem: str
    allowed: str = ""

    def __str__(self) -> str:
        where = f"rule {self.rule!r}" + (f", key {self.key!r}" if self.key else "")
        tail = f" Allowed: {self.allowed}." if self.allowed else ""
        return f"{where}: {self.problem}.{tail}"


class RulesFileError(ValueError):
    """Raised by ``load_rules`` when a rules file cannot be used; carries every error."""

    def __init__(self, source: str, errors: list[RuleError]) -> None:
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(f"{source}: {len(errors)} error(s) in the rules:\n{lines}")
