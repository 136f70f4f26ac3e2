"""Import one CSV file: read, check every row, then write all good rows or none.

Checking happens entirely before writing so the report is complete and the
all-or-nothing default costs no rollback. The caller owns the transaction:
nothing here commits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from mailsync.crm_import import writers
from mailsync.crm_import.csv_file import read_csv
from mailsync.crm_import.kinds import ImportKind
from mailsync.crm_import.records import Cells
from mailsync.crm_import.report import BadRow, ImportReport

PROGRESS_STEP = 2_000
"""Rows checked between two progress updates."""

Progress = Callable[[str, int, int], None]
"""Called with (phase, done, total) as rows are checked and written."""


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


def import_file(
    kind: ImportKind[Any],
    path: Path,
    session: Session,
    *,
    skip_bad_rows: bool = False,
    progress: Progress = _no_progress,
) -> ImportReport:
    """Check every row of ``path``; write the good ones unless a bad one stops the import.

    Raises ``CsvFileError`` when the file as a whole is unusable (encoding, header).
    """
    content = read_csv(path, kind.required, kind.optional)
    report = ImportReport(kind.name, skip_bad_rows=skip_bad_rows)
    report.rows = len(content.rows) + len(content.bad_rows)
    reasons: dict[int, list[str]] = {bad.line: list(bad.reasons) for bad in content.bad_rows}

    parsed: list[tuple[int, Any]] = []
    refused: dict[str, int] = {}
    total = len(content.rows)
    for done, row in enumerate(content.rows, start=1):
        cells = Cells(row.values)
        record = kind.parse(cells)
        if record is None:
            reasons[row.line] = cells.reasons
            refused.setdefault(row.values.get(kind.key_column, "").lower(), row.line)
        else:
            parsed.append((row.line, record))
        if done % PROGRESS_STEP == 0 or done == total:
            progress("checking", done, total)

    for line, found in kind.check(parsed, session, refused).items():
        if found:
            reasons.setdefault(line, []).extend(found)

    good_lines = [(line, record) for line, record in parsed if line not in reasons]
    # The store refuses a batch with any row it objects to: ask it first, by line.
    for index, found in writers.store_problems(session, [r for _, r in good_lines]).items():
        reasons.setdefault(good_lines[index][0], []).extend(found)
    report.bad_rows = [BadRow(line, tuple(why)) for line, why in sorted(reasons.items())]
    if report.bad_rows and not skip_bad_rows:
        return report

    good = [record for line, record in good_lines if line not in reasons]
    progress("writing", 0, len(good))
    # One set-based call: users may name a manager that appears later in the file.
    kind.write(session, good)
    progress("writing", len(good), len(good))
    report.written = len(good)
    return report
