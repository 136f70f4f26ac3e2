"""The provider Protocol every mailbox driver implements, and its typed results.

A driver turns a cursor into pages of normalised changes. It never writes to
the store and never sleeps for a server: throttling and outages are raised as
the typed errors below, and the engine turns them into a ``SyncOutcome`` that
the daemon uses to schedule the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from crm_store.items import CorrespondenceItem, Removal


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """An item the driver could not normalise; it goes to the processed-items ledger."""

    provider_item_id: str
    folder: str
    error: str
    raw_excerpt: str = ""


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of changes for one folder, and the cursor to store with it.

    ``next_cursor`` is what must be committed in the same transaction as the
    page (invariant 1). It is the nextLink for a middle page and the deltaLink
    (or EWS sync state) for the last page.
    """

    folder: str
    upserts: list[CorrespondenceItem] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)
    next_cursor: str | None = None
    is_last: bool = False


class ProviderError(Exception):
    """Base of the failures a driver reports; each kind has one handler in the engine."""


class Throttled(ProviderError):
    """429/503 or ErrorServerBusy: come back after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(f"throttled, retry after {retry_after:g}s {detail}".strip())
        self.retry_after = retry_after


class TemporaryFailure(ProviderError):
    """5xx, dropped connection, timeout: retry with backoff."""


class CursorExpired(ProviderError):
    """410 Gone / syncStateNotFound / ErrorInvalidSyncStateData: resync the folder."""

    def __init__(self, folder: str, detail: str = "") -> None:
        super().__init__(f"cursor of folder {folder!r} expired {detail}".strip())
        self.folder = folder


class AuthFailed(ProviderError):
    """The token was refused twice: the mailbox needs an administrator."""


class PermanentFailure(ProviderError):
    """Any other refusal (404 mailbox, 403 scope): recorded on the mailbox.

    ``status`` is the HTTP status when there was one: a 404 on a subscription
    means Graph dropped it (recreate), not that the mailbox is gone.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


BodyFetcher = Callable[[list[str]], dict[str, tuple[str | None, str | None]]]


@dataclass(frozen=True, slots=True)
class BodyFetch:
    """What a body fetch got, and what it could not get yet.

    Bodies are fetched for a page before its transaction, but a body is not
    worth losing the page over: the page commits with the ``unfetched`` ids
    marked pending, and the run then ends the way the server asked.
    ``retry_after`` is set when the server throttled any of the requests
    (come back after that many seconds); ``temporary`` names a transient
    failure (5xx, dropped connection) otherwise. An id in neither ``bodies``
    nor ``unfetched`` was answered without a body (deleted since the delta).
    """

    bodies: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    unfetched: tuple[str, ...] = ()
    retry_after: float | None = None
    temporary: str = ""

    @property
    def complete(self) -> bool:
        return not self.unfetched


class MailboxProvider(Protocol):
    """What the engine needs from a mailbox driver."""

    name: str

    def folders(self) -> list[str]:
        """Folder keys this mailbox syncs, e.g. ``inbox``, ``sentitems``, ``calendar``."""
        ...

    def changes(self, folder: str, cursor: str | None) -> Iterator[ChangePage]:
        """Pages of changes since ``cursor`` (``None`` means a full sync)."""
        ...

    def fetch_bodies(self, folder: str, item_ids: list[str]) -> BodyFetch:
        """Bodies (text, html) of the items, keyed by provider item id.

        Throttling or a transient failure of some body requests is reported in
        the result (those ids ``unfetched``), not raised: the caller still
        commits the page. Failures that concern the whole mailbox (auth,
        permanent refusals) are raised as usual.
        """
        ...

    def set_category(self, item_id: str, categories: tuple[str, ...]) -> None:
        """Replace the item's categories (optional "Tracked to CRM" write-back).

        Takes the whole list because Graph's PATCH replaces it: the caller adds
        its category to the ones the item already had.
        """
        ...
