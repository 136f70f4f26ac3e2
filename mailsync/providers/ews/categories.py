"""Category write-back over EWS: UpdateItem with SetItemField ``item:Categories``.

Exchange wants the change key of the version being updated when
ConflictResolution is AutoResolve (ErrorChangeKeyRequired without it). The
change key comes from the GetItem of the page the engine is working on, so a
write-back costs one request; an item not read in this run gets one GetItem
(IdOnly) first. AutoResolve lets Exchange apply the categories over a version
that changed after we read it; if Exchange still reports a conflict, the item
is read again and updated once more, and a second conflict is a temporary
failure (someone is editing the item right now). An item that is gone since
the page was read is not tagged: the next sync reports its removal.
"""

from __future__ import annotations

from typing import Any

from exchangelib import errors as ews_errors
from exchangelib.items import AUTO_RESOLVE, ID_ONLY, SAVE_ONLY, SEND_TO_NONE
from exchangelib.properties import ItemId
from exchangelib.services import UpdateItem

from mailsync.providers.base import TemporaryFailure
from mailsync.providers.ews.errors import translated
from mailsync.providers.ews.fetch import ItemVersions
from mailsync.providers.ews.services import GetItemService, UpdateItemService

CATEGORY_FIELDS = ["categories"]


class UpdateItemOrErrors(UpdateItemService):
    """UpdateItem that returns a conflict as a value, so it can be retried once."""

    ERRORS_TO_CATCH_IN_RESPONSE = (
        *UpdateItem.ERRORS_TO_CATCH_IN_RESPONSE,
        ews_errors.ErrorIrresolvableConflict,
    )


def _current(account: Any, item_id: str, folder: str) -> tuple[type[Any], str] | None:
    """(class, change key) of the item now, or None when it is gone."""
    with translated(folder):
        found = list(
            GetItemService(account=account).call(
                items=[ItemId(id=item_id)], additional_fields=set(), shape=ID_ONLY
            )
        )
    item = found[0] if found else None
    if isinstance(item, ews_errors.ErrorItemNotFound) or item is None:
        return None
    if isinstance(item, Exception):
        with translated(folder):
            raise item
    return type(item), str(item.changekey)


def _update(
    account: Any, item_id: str, version: tuple[type[Any], str], categories: tuple[str, ...]
) -> Any:
    item_class, change_key = version
    target = item_class(
        account=account, id=item_id, changekey=change_key, categories=list(categories) or None
    )
    results = list(
        UpdateItemOrErrors(account=account).call(
            items=[(target, CATEGORY_FIELDS)],
            conflict_resolution=AUTO_RESOLVE,
            message_disposition=SAVE_ONLY,
            send_meeting_invitations_or_cancellations=SEND_TO_NONE,
            suppress_read_receipts=True,
        )
    )
    return results[0] if results else None


def write_categories(
    account: Any,
    item_id: str,
    categories: tuple[str, ...],
    versions: ItemVersions,
    folder: str = "",
) -> None:
    """Replace the item's categories with ``categories`` (an empty tuple clears them)."""
    version = versions.get(item_id) or _current(account, item_id, folder)
    for attempt in range(2):
        if version is None:
            return
        with translated(folder):
            result = _update(account, item_id, version, categories)
        if isinstance(result, ews_errors.ErrorItemNotFound):
            versions.pop(item_id, None)
            return
        if isinstance(result, ews_errors.ErrorIrresolvableConflict):
            if attempt == 1:
                raise TemporaryFailure(f"category write-back on {item_id}: {result}")
            version = _current(account, item_id, folder)
            continue
        if isinstance(result, Exception):
            with translated(folder):
                raise result
        # The update made a new version; a second write in this run starts from it.
        versions[item_id] = (version[0], str(result[1]))
        return
