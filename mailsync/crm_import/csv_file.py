"""Read a CRM export as rows of stripped strings keyed by column, with their line numbers.

Spreadsheets save CSV in many small variants: a UTF-8 byte-order mark, CRLF
line ends, blank lines, cells padded with spaces, headers in other cases.
All of those are accepted. What cannot be read as intended (another encoding,
a missing or unknown column, a row with the wrong number of cells) is
reported, never guessed at.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from mailsync.crm_import.report import BadRow


class CsvFileError(Exception):
    """The file as a whole cannot be imported (encoding, header); no row was looked at."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    values: dict[str, str]


@dataclass
class CsvContent:
    rows: list[CsvRow] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)


def read_csv(path: Path, required: tuple[str, ...], optional: tuple[str, ...]) -> CsvContent:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _read(path, handle, required, optional)
    except UnicodeDecodeError as exc:
        raise CsvFileError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save it as 'CSV UTF-8' and import again"
        ) from None
    except OSError as exc:
        raise CsvFileError(f"{path}: cannot read: {exc.strerror}") from None


def _read(
    path: Path, handle: TextIO, required: tuple[str, ...], optional: tuple[str, ...]
) -> CsvContent:
    reader = csv.reader(handle, strict=True)
    header: list[str] | None = None
    content = CsvContent()
    last_line = 0
    try:
        for cells in reader:
            # A quoted value may span lines: report the line the record starts on.
            line, last_line = last_line + 1, reader.line_num
            stripped = [cell.strip() for cell in cells]
            if not any(stripped):
                continue  # blank line (or a row of empty cells)
            if header is None:
                header = [cell.lower() for cell in stripped]
                _check_header(f"{path} line {line}", header, required, optional)
                continue
            if len(stripped) != len(header):
                reason = (
                    f"{len(stripped)} values but the header has {len(header)} columns "
                    "(a comma inside a value needs double quotes around the value)"
                )
                content.bad_rows.append(BadRow(line, (reason,)))
                continue
            content.rows.append(CsvRow(line, dict(zip(header, stripped, strict=True))))
    except csv.Error as exc:
        raise CsvFileError(f"{path} line {reader.line_num}: not valid CSV: {exc}") from None
    if header is None:
        raise CsvFileError(
            f"{path}: the file is empty; expected a header line such as {','.join(required)}"
        )
    return content


def _check_header(
    where: str, header: list[str], required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    allowed = (*required, *optional)
    expected = f"expected the columns {','.join(allowed)}"
    if len(header) == 1 and ";" in header[0]:
        raise CsvFileError(
            f"{where}: the header is one column {header[0]!r}; the file looks "
            "separated by ';' — save it comma-separated"
        )
    problems: list[str] = []
    missing = [column for column in required if column not in header]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    for column in header:
        if column not in allowed:
            close = difflib.get_close_matches(column, allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"unknown column {column!r}{hint}")
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        problems.append(f"column {', '.join(duplicates)} appears twice")
    if problems:
        raise CsvFileError(f"{where}: {'; '.join(problems)}; {expected}")
