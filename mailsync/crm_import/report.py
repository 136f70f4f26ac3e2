"""What an import did, and every row it refused with the line number and the reasons."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"line {self.line}: {'; '.join(self.reasons)}"


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    written: int = 0
    skip_bad_rows: bool = False

    @property
    def good_rows(self) -> int:
        return self.rows - len(self.bad_rows)

    @property
    def ok(self) -> bool:
        return not self.bad_rows

    def summary(self) -> str:
        bad = len(self.bad_rows)
        if not bad:
            return f"imported {self.written} {self.kind} ({self.rows} rows, none bad)"
        if self.skip_bad_rows:
            return (
                f"imported {self.written} {self.kind}; skipped {bad} bad "
                f"row{'s' if bad > 1 else ''} of {self.rows}"
            )
        if not self.good_rows:
            return f"all {self.rows} rows are bad; nothing was written"
        return (
            f"{bad} of {self.rows} rows are bad; nothing was written. Fix them, or import the "
            f"{self.good_rows} good row{'s' if self.good_rows > 1 else ''} with --skip-bad-rows"
        )
