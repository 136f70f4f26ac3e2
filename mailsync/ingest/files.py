"""Walking paths (files and directories) and reading each by its extension."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable, Iterator
from pathlib import Path

from mailsync.ingest.ics import parse_ics_bytes
from mailsync.ingest.message import parse_message_bytes
from mailsync.ingest.results import FileError, IngestedItem, IngestOutcome

SUFFIXES = (".eml", ".mbox", ".ics")


def ingest_paths(paths: Iterable[Path]) -> Iterator[IngestOutcome]:
    """Every item of every file, in path order; directories are searched recursively."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES):
                yield from _read(child)
        else:
            yield from _read(path)


def _read(path: Path) -> Iterator[IngestOutcome]:
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        yield FileError(
            source, f"unsupported file type {suffix or '(none)'}; use .eml, .mbox or .ics"
        )
        return
    if suffix == ".mbox":
        yield from _read_mbox(path)
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield FileError(source, f"cannot read: {exc.strerror or exc}")
        return
    if suffix == ".ics":
        meetings = parse_ics_bytes(data, source)
        if isinstance(meetings, FileError):
            yield meetings
        else:
            yield from (IngestedItem(source, m) for m in meetings)
        return
    parsed = parse_message_bytes(data, source)
    yield parsed if isinstance(parsed, FileError) else IngestedItem(source, parsed)


def _read_mbox(path: Path) -> Iterator[IngestOutcome]:
    source = str(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
    except OSError as exc:
        yield FileError(source, f"cannot read: {exc.strerror or exc}")
        return
    if not head:
        yield FileError(source, "empty mbox")
        return
    if head != b"From ":
        yield FileError(source, "not an mbox: it must start with a 'From ' separator line")
        return
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            entry = f"{source}#{number}"
            parsed = parse_message_bytes(box.get_bytes(key), entry)
            yield parsed if isinstance(parsed, FileError) else IngestedItem(entry, parsed)
    finally:
        box.close()
