"""GetItem in batches, with the properties each item kind needs, per-item errors kept.

SyncFolderItems is asked for ids only (Exchange leaves some properties out of
sync responses anyway); the changed items are then read with one GetItem per
page. A per-item error comes back as a value, so one unreadable item is an
``ItemFailure`` and the rest of the page is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exchangelib import errors as ews_errors
from exchangelib.fields import FieldPath
from exchangelib.items import ID_ONLY, CalendarItem, MeetingRequest, Message
from exchangelib.services import GetItem

from mailsync.providers.ews.errors import translated
from mailsync.providers.ews.normalise import GLOBAL_ID_FIELD
from mailsync.providers.ews.services import GetItemService

MESSAGE_FIELDS = (
    "subject",
    "sensitivity",
    "datetime_received",
    "datetime_sent",
    "categories",
    "has_attachments",
    "in_reply_to",
    "headers",
    "conversation_id",
    "sender",
    "to_recipients",
    "cc_recipients",
    "bcc_recipients",
    "author",
    "message_id",
    "references",
)
CALENDAR_FIELDS = (
    "subject",
    "sensitivity",
    "categories",
    "body",
    "uid",
    "recurrence_id",
    "start",
    "end",
    "original_start",
    "location",
    "is_cancelled",
    "type",
    "organizer",
    "required_attendees",
    "optional_attendees",
    "resources",
    "recurrence",
)
MEETING_MESSAGE_FIELDS = (
    *MESSAGE_FIELDS,
    "start",
    "end",
    "original_start",
    "location",
    "is_cancelled",
    "type",
    "organizer",
    "required_attendees",
    "optional_attendees",
    "resources",
    GLOBAL_ID_FIELD,
)
BODY_FIELDS = ("body",)

GETITEM_BATCH = 100


def field_paths(item_class: Any, names: Sequence[str]) -> set[Any]:
    return {FieldPath(field=item_class.get_field_by_fieldname(n)) for n in names}


MESSAGE_PATHS = field_paths(Message, MESSAGE_FIELDS)
CALENDAR_PATHS = field_paths(CalendarItem, CALENDAR_FIELDS)
MEETING_MESSAGE_PATHS = field_paths(MeetingRequest, MEETING_MESSAGE_FIELDS)
BODY_PATHS = field_paths(Message, BODY_FIELDS)


class GetItemsOrErrors(GetItemService):
    """GetItem that also returns occurrence errors as values.

    Asking a master for occurrence N answers "out of range" past the last one
    and "deleted" for a cancelled instance; both are answers, not failures.
    """

    ERRORS_TO_CATCH_IN_RESPONSE = (
        *GetItem.ERRORS_TO_CATCH_IN_RESPONSE,
        ews_errors.ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
        ews_errors.ErrorCalendarOccurrenceIsDeletedFromRecurrence,
        ews_errors.ErrorAccessDenied,
    )


ItemVersions = dict[str, tuple[type[Any], str]]


def get_items(
    account: Any,
    ids: Sequence[Any],
    paths: set[Any],
    folder: str,
    versions: ItemVersions | None = None,
) -> list[Any]:
    """Items (or the per-item exception) for ``ids``, in the same order.

    ``versions`` collects each item read (its class, id and change key), so a
    category write-back on the page just read needs no request of its own.
    """
    found: list[Any] = []
    with translated(folder):
        for start in range(0, len(ids), GETITEM_BATCH):
            chunk = list(ids[start : start + GETITEM_BATCH])
            service = GetItemsOrErrors(account=account, chunk_size=GETITEM_BATCH)
            found.extend(service.call(items=chunk, additional_fields=paths, shape=ID_ONLY))
    if versions is not None:
        for item in found:
            if not isinstance(item, Exception) and getattr(item, "id", None):
                versions[item.id] = (type(item), item.changekey)
    return found
