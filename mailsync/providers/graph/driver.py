"""The Graph ``MailboxProvider``: which folders, which URLs, and bodies on demand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from crm_store.items import ItemKind
from mailsync.prefetch import prefetched
from mailsync.providers.base import BodyFetch, ChangePage, TemporaryFailure, Throttled
from mailsync.providers.graph.batch import Bodies, body_batch_request, chunks, parse_body_batch
from mailsync.providers.graph.normalise import MESSAGE_SELECT, SENSITIVITY_EXPAND
from mailsync.providers.graph.paging import delta_pages
from mailsync.providers.graph.transport import GraphTransport

CALENDAR_FOLDER = "calendar"
DEFAULT_MAIL_FOLDERS = ("inbox", "sentitems")


@dataclass(frozen=True, slots=True)
class GraphSyncSettings:
    mail_folders: tuple[str, ...] = DEFAULT_MAIL_FOLDERS
    calendar: bool = True
    calendar_days_back: int = 90
    calendar_days_ahead: int = 365
    # Fetch the next delta page while the engine writes the current one. That
    # puts two requests to the mailbox in flight (the page ahead and a $batch of
    # bodies), so it is off when the per-mailbox budget allows only one.
    fetch_ahead: bool = True


class GraphProvider:
    """One mailbox over Graph. Stateless between calls: the cursor is the state."""

    name = "graph"

    def __init__(
        self,
        mailbox: str,
        transport: GraphTransport,
        settings: GraphSyncSettings,
        *,
        now: datetime | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.transport = transport
        self.settings = settings
        self._now = now
        self._user_path = f"/users/{quote(mailbox, safe='@')}"

    def folders(self) -> list[str]:
        extra = [CALENDAR_FOLDER] if self.settings.calendar else []
        return [*dict.fromkeys(self.settings.mail_folders), *extra]

    def first_url(self, folder: str) -> str:
        """The URL of a full sync; query options go on this request only."""
        base = f"{self.transport.graph_url}{self._user_path}"
        if folder == CALENDAR_FOLDER:
            # The window is fixed by this first request; day granularity keeps a
            # resync on the same day asking for the same window.
            today = (self._now or datetime.now(UTC)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            start = today - timedelta(days=self.settings.calendar_days_back)
            end = today + timedelta(days=self.settings.calendar_days_ahead + 1)
            query = urlencode(
                {
                    "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
            return f"{base}/calendarView/delta?{query}"
        query = urlencode({"$select": MESSAGE_SELECT, "$expand": SENSITIVITY_EXPAND}, safe=",$")
        return f"{base}/mailFolders/{quote(folder, safe='')}/messages/delta?{query}"

    def changes(self, folder: str, cursor: str | None) -> Iterator[ChangePage]:
        """Pages of the folder's delta; the next page is fetched while the engine writes one."""
        kind = ItemKind.MEETING if folder == CALENDAR_FOLDER else ItemKind.MESSAGE
        pages = delta_pages(self.transport, cursor or self.first_url(folder), folder, kind)
        if not self.settings.fetch_ahead:
            return pages
        return prefetched(pages, name=f"graph-delta {self.mailbox} {folder}")

    def fetch_bodies(self, folder: str, item_ids: list[str]) -> BodyFetch:
        """Bodies in ``$batch`` requests of 20, as many in parallel as the mailbox budget allows.

        Outlook allows 4 concurrent requests per mailbox and the delta page
        fetched ahead holds one, so bodies go out in waves of the rest. Once a
        wave is throttled or fails transiently no further wave is sent: the
        server asked us to back off, and the ids left are reported unfetched.
        """
        batches = [list(chunk) for chunk in chunks(list(dict.fromkeys(item_ids)))]
        width = self.body_parallelism()
        bodies: Bodies = {}
        unfetched: list[str] = []
        waits: list[float] = []
        temporary = ""
        for start in range(0, len(batches), width):
            wave = batches[start : start + width]
            if waits or temporary:
                unfetched.extend(i for batch in wave for i in batch)
                continue
            for result in self._send_wave(folder, wave):
                bodies.update(result.bodies)
                unfetched.extend(result.unfetched)
                if result.retry_after is not None:
                    waits.append(result.retry_after)
                temporary = temporary or result.temporary
        return BodyFetch(
            bodies=bodies,
            unfetched=tuple(unfetched),
            retry_after=max(waits) if waits else None,
            temporary=temporary,
        )

    def body_parallelism(self) -> int:
        """``$batch`` requests sent at once: the budget's slots less the delta page ahead."""
        ahead = 1 if self.settings.fetch_ahead else 0
        return max(1, self.transport.max_concurrent_requests - ahead)

    def _send_wave(self, folder: str, wave: Sequence[list[str]]) -> list[BodyFetch]:
        if len(wave) == 1:
            return [self._send_batch(folder, wave[0])]
        with ThreadPoolExecutor(
            max_workers=len(wave), thread_name_prefix=f"graph-bodies {self.mailbox}"
        ) as pool:
            futures = [pool.submit(self._send_batch, folder, batch) for batch in wave]
        # Leaving the pool waited for every request; an auth or permanent
        # failure of any of them is raised here, after the others finished.
        return [future.result() for future in futures]

    def _send_batch(self, folder: str, batch: list[str]) -> BodyFetch:
        """One ``$batch``; the whole request throttled or failing leaves its ids unfetched."""
        url = f"{self.transport.graph_url}/$batch"
        request = body_batch_request(self._user_path, batch)
        try:
            response = self.transport.post_json(url, request, folder=folder, kind="batch")
        except Throttled as throttled:
            return BodyFetch(unfetched=tuple(batch), retry_after=throttled.retry_after)
        except TemporaryFailure as failure:
            return BodyFetch(unfetched=tuple(batch), temporary=str(failure))
        return parse_body_batch(response, batch)

    def set_category(self, item_id: str, categories: tuple[str, ...]) -> None:
        url = f"{self.transport.graph_url}{self._user_path}/messages/{quote(item_id, safe='')}"
        self.transport.patch_json(url, {"categories": list(categories)}, folder="", kind="category")
