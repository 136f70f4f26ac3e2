"""`mailsync rules explain FILE…`: each file's items through the rules, writing nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mailsync.ingest.files import ingest_paths
from mailsync.ingest.results import FileError
from rules.engine import Explanation, RulesEngine


@dataclass(frozen=True, slots=True)
class ExplainedItem:
    source: str
    subject: str
    explanation: Explanation


def explain_paths(
    paths: Iterable[Path], engine: RulesEngine, mailbox: str | None
) -> Iterator[ExplainedItem | FileError]:
    """One explanation per item of the files (``mailbox`` is whose mail it is)."""
    for outcome in ingest_paths(paths):
        if isinstance(outcome, FileError):
            yield outcome
            continue
        explanation = engine.explain(outcome.item, mailbox=mailbox)
        yield ExplainedItem(outcome.source, outcome.item.subject, explanation)
