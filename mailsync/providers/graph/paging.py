"""Follow a Graph delta query page by page.

Shared by mail and calendar delta: fetch the URL, split the page, yield it with
the nextLink (middle page) or deltaLink (last page) as its cursor. Only one
page is in memory at a time, whatever the size of the mailbox.
"""

from __future__ import annotations

from collections.abc import Iterator

from crm_store.items import ItemKind
from mailsync.providers.base import ChangePage, PermanentFailure
from mailsync.providers.graph.normalise import split_page
from mailsync.providers.graph.transport import GraphTransport

NEXT_LINK = "@odata.nextLink"
DELTA_LINK = "@odata.deltaLink"


def delta_pages(
    transport: GraphTransport, first_url: str, folder: str, kind: ItemKind
) -> Iterator[ChangePage]:
    url: str | None = first_url
    while url is not None:
        body = transport.get_json(url, folder=folder, kind="delta")
        values = body.get("value", [])
        if not isinstance(values, list):
            raise PermanentFailure(f"delta page of {folder} has no value list")
        upserts, removals, failures = split_page(values, folder, kind)
        next_link, delta_link = body.get(NEXT_LINK), body.get(DELTA_LINK)
        if isinstance(next_link, str) and next_link:
            yield ChangePage(folder, upserts, removals, failures, next_cursor=next_link)
            url = next_link
        elif isinstance(delta_link, str) and delta_link:
            yield ChangePage(
                folder, upserts, removals, failures, next_cursor=delta_link, is_last=True
            )
            url = None
        else:
            raise PermanentFailure(f"delta page of {folder} has neither nextLink nor deltaLink")
