"""The one exception bad configuration raises, shaped for a person to read.

Invariant 6 of the design: bad configuration fails at start with a message that
names the key and the fix. Every problem therefore carries the dotted key, what
is wrong and what to do, and the CLI prints ``str(error)`` without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One wrong, missing or unknown key."""

    key: str
    problem: str
    fix: str

    def __str__(self) -> str:
        text = f"{self.key}: {self.problem}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class ConfigError(Exception):
    """Configuration that cannot be used; ``source`` says where it came from."""

    def __init__(self, source: Path | str | None, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        if len(self.problems) == 1:
            return f"configuration error{where}:\n  {self.problems[0]}"
        lines = [f"{len(self.problems)} configuration errors{where}:"]
        lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)


class KeyedValueError(ValueError):
    """A cross-field check's failure, with the key (relative to its model) to blame.

    Pydantic reports a model validator's error at the model itself; this lets
    the loader still name the exact key, e.g. ``tenant.client_secret_env``.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
