"""The EWS ``MailboxProvider``: which folders, which pages, and bodies on demand."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from exchangelib.properties import ItemId

from mailsync.providers.base import (
    AuthFailed,
    BodyFetch,
    ChangePage,
    CursorExpired,
    PermanentFailure,
    TemporaryFailure,
    Throttled,
)
from mailsync.providers.common import html_to_text
from mailsync.providers.ews.calendar import Window, calendar_pages
from mailsync.providers.ews.categories import write_categories
from mailsync.providers.ews.connection import EwsConnection
from mailsync.providers.ews.fetch import BODY_PATHS, ItemVersions, get_items
from mailsync.providers.ews.folders import (
    CALENDAR_FOLDER,
    by_id,
    distinguished,
    path_of,
    resolve_path,
)
from mailsync.providers.ews.mail import mail_pages

DEFAULT_MAIL_FOLDERS = ("inbox", "sentitems")
MAX_CHANGES_RETURNED = 512  # the most SyncFolderItems accepts

Bodies = dict[str, tuple[str | None, str | None]]


@dataclass(frozen=True, slots=True)
class EwsSyncSettings:
    mail_folders: tuple[str, ...] = DEFAULT_MAIL_FOLDERS
    calendar: bool = True
    calendar_days_back: int = 90
    calendar_days_ahead: int = 365
    page_size: int = 200


class EwsProvider:
    """One mailbox over EWS. Stateless between calls: the cursor is the state."""

    name = "ews"

    def __init__(
        self,
        mailbox: str,
        connection: EwsConnection,
        settings: EwsSyncSettings,
        *,
        now: datetime | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.connection = connection
        self.settings = settings
        self._now = now
        self._account: Any = None
        # Class and change key of the items of the page being processed (for write-back).
        self._versions: ItemVersions = {}

    @property
    def account(self) -> Any:
        if self._account is None:
            self._account = self.connection.account(self.mailbox)
        return self._account

    def folders(self) -> list[str]:
        extra = [CALENDAR_FOLDER] if self.settings.calendar else []
        return [*dict.fromkeys(self.settings.mail_folders), *extra]

    def folder_object(self, folder: str) -> Any:
        """The EWS folder a folder key names (see ``folders``): distinguished, or by path.

        Called inside the pages generator, so a folder that cannot be found
        (or a refused FindFolder) is recorded on the mailbox's run like any
        other failure instead of stopping the daemon.
        """
        path = path_of(folder)
        if path is None:
            return distinguished(self.account, self.mailbox, folder.strip().lower())
        known = self.connection.folder_ids.get(self.mailbox, path)
        if known is None:
            known = resolve_path(self.account, self.mailbox, path, folder)
            self.connection.folder_ids.put(self.mailbox, path, known)
        return by_id(self.account, known)

    def window(self) -> Window:
        """Graph's calendar window: whole days, so a resync the same day asks the same."""
        today = (self._now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
        return Window(
            today - timedelta(days=self.settings.calendar_days_back),
            today + timedelta(days=self.settings.calendar_days_ahead + 1),
        )

    def changes(self, folder: str, cursor: str | None) -> Iterator[ChangePage]:
        return self._refreshing(self._pages(folder, cursor))

    def _pages(self, folder: str, cursor: str | None) -> Iterator[ChangePage]:
        page_size = max(1, min(self.settings.page_size, MAX_CHANGES_RETURNED))
        folder_obj = self.folder_object(folder)
        if folder == CALENDAR_FOLDER:
            yield from calendar_pages(
                self.account, folder_obj, folder, cursor, page_size, self.window(), self._versions
            )
            return
        try:
            yield from mail_pages(
                self.account, folder_obj, folder, cursor, page_size, self._versions
            )
        except (CursorExpired, PermanentFailure):
            # The folder may be gone or replaced: look its path up again next time.
            path = path_of(folder)
            if path is not None:
                self.connection.folder_ids.forget(self.mailbox, path)
            raise

    def _refreshing(self, pages: Iterator[ChangePage]) -> Iterator[ChangePage]:
        """A refused OAuth token is refreshed once; only a refused fresh token is AuthFailed.

        The run stops as a temporary failure (pages so far are committed) and
        the next run starts with the fresh token; a password refused by
        NTLM/Basic has nothing to refresh and stands at once.
        """
        try:
            for page in pages:
                self.connection.refused.discard(self.mailbox)
                yield page
        except AuthFailed as refused:
            if self.mailbox in self.connection.refused:
                raise
            if not self.connection.refresh_after_refusal():
                raise
            self.connection.refused.add(self.mailbox)
            raise TemporaryFailure(f"{refused}; token refreshed for the next run") from refused

    def fetch_bodies(self, folder: str, item_ids: list[str]) -> BodyFetch:
        ids = list(dict.fromkeys(item_ids))
        bodies: Bodies = {}
        refs = [ItemId(id=i) for i in ids]
        try:
            found = get_items(self.account, refs, BODY_PATHS, folder)
        except Throttled as busy:
            # The page still commits with these bodies pending (see BodyFetch).
            return BodyFetch(unfetched=tuple(ids), retry_after=busy.retry_after)
        except TemporaryFailure as failure:
            return BodyFetch(unfetched=tuple(ids), temporary=str(failure))
        for item_id, item in zip(ids, found, strict=True):
            if isinstance(item, Exception) or item.body is None:
                continue
            content = str(item.body)
            if type(item.body).__name__ == "HTMLBody":
                bodies[item_id] = (html_to_text(content), content)
            else:
                bodies[item_id] = (content, None)
        return BodyFetch(bodies)

    def set_category(self, item_id: str, categories: tuple[str, ...]) -> None:
        write_categories(self.account, item_id, categories, self._versions)
