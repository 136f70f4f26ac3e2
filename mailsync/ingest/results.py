"""What reading one file gives: items with their source, or an error naming file and reason."""

from __future__ import annotations

from dataclasses import dataclass

from crm_store.items import CorrespondenceItem

IMPORTED_FOLDER = "Imported"


@dataclass(frozen=True, slots=True)
class IngestedItem:
    """``source`` is the file name, with ``#N`` for the N-th message of an mbox."""

    source: str
    item: CorrespondenceItem


@dataclass(frozen=True, slots=True)
class FileError:
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


IngestOutcome = IngestedItem | FileError
