"""Reading exported mail and calendars (.eml, .mbox, .ics) into normalised items.

Pure parsing: no store, no rules. ``ingest_paths`` yields one ``IngestedItem``
per message or meeting and one ``FileError`` per file (or mbox entry) that
cannot be read, so a broken file is reported by name and reason and the rest
carries on. Item ids are derived from Message-ID / iCalendar UID, so reading
the same files twice yields the same items and the store's upsert makes the
import idempotent.
"""

from mailsync.ingest.explain import ExplainedItem, explain_paths
from mailsync.ingest.files import ingest_paths
from mailsync.ingest.ics import parse_ics_bytes
from mailsync.ingest.message import parse_message_bytes
from mailsync.ingest.results import IMPORTED_FOLDER, FileError, IngestedItem, IngestOutcome

__all__ = [
    "IMPORTED_FOLDER",
    "ExplainedItem",
    "FileError",
    "IngestOutcome",
    "IngestedItem",
    "explain_paths",
    "ingest_paths",
    "parse_ics_bytes",
    "parse_message_bytes",
]
