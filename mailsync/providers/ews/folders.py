"""Which EWS folder a configured folder key names.

A key that is an EWS distinguished folder (``inbox``, ``sentitems``, ...) is
addressed as one, with no request. Anything else is a folder by display name
under the mailbox's top of information store (``msgfolderroot``): Graph's
``archive`` and ``clutter`` are Outlook's "Archive" and "Clutter" folders
(EWS has no distinguished id for them), and a user folder is its path, with
``/`` between levels (``Inbox/Customers``). Each level is one FindFolder
(Shallow) on its parent, matching the display name without regard to case
as Outlook does. A folder Exchange renames to the user's language (e.g.
"Archiv") is configured by that name.

The resolved FolderId is kept on the connection, so an idle sync of a user
folder stays one SyncFolderItems call; the driver forgets it when Exchange
says the folder is gone, and the next run looks the path up again.
"""

from __future__ import annotations

import threading
from typing import Any

from exchangelib.fields import FieldPath
from exchangelib.folders import (
    SHALLOW,
    Calendar,
    ConversationHistory,
    DeletedItems,
    Drafts,
    Folder,
    Inbox,
    JunkEmail,
    MsgFolderRoot,
    Outbox,
    Root,
    SentItems,
)
from exchangelib.items import ID_ONLY
from exchangelib.properties import DistinguishedFolderId, Mailbox

from mailsync.providers.base import PermanentFailure
from mailsync.providers.ews.errors import translated
from mailsync.providers.ews.services import FindFolderService

CALENDAR_FOLDER = "calendar"

# Our folder keys (Graph's well-known names) that are EWS distinguished folders.
DISTINGUISHED: dict[str, Any] = {
    "inbox": Inbox,
    "sentitems": SentItems,
    "deleteditems": DeletedItems,
    "drafts": Drafts,
    "junkemail": JunkEmail,
    "outbox": Outbox,
    "conversationhistory": ConversationHistory,
    CALENDAR_FOLDER: Calendar,
}
# Graph's well-known names with no EWS distinguished id: Outlook's folders of these names.
NAMED = {"archive": "Archive", "clutter": "Clutter"}
PATH_SEPARATOR = "/"
FIND_PAGE_SIZE = 100
_NAME_PATHS = {FieldPath(field=Folder.get_field_by_fieldname("name"))}


class FolderIds:
    """FolderIds resolved from paths, per (mailbox, path); shared by a connection's providers."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, mailbox: str, path: str) -> str | None:
        with self._lock:
            return self._ids.get((mailbox.lower(), path.lower()))

    def put(self, mailbox: str, path: str, folder_id: str) -> None:
        with self._lock:
            self._ids[(mailbox.lower(), path.lower())] = folder_id

    def forget(self, mailbox: str, path: str) -> None:
        with self._lock:
            self._ids.pop((mailbox.lower(), path.lower()), None)


def path_of(folder: str) -> str | None:
    """The display-name path a folder key names, or None for a distinguished folder."""
    key = folder.strip()
    if key.lower() in DISTINGUISHED:
        return None
    return NAMED.get(key.lower(), key)


def distinguished(account: Any, mailbox: str, name: str) -> Any:
    """A distinguished folder, addressed without a GetFolder round trip."""
    folder_class = DISTINGUISHED.get(name, MsgFolderRoot)
    return folder_class(
        root=Root(account=account),
        _distinguished_id=DistinguishedFolderId(
            id=folder_class.DISTINGUISHED_FOLDER_ID, mailbox=Mailbox(email_address=mailbox)
        ),
    )


def by_id(account: Any, folder_id: str) -> Any:
    return Folder(root=Root(account=account), id=folder_id)


def _children(account: Any, parent: Any, folder: str) -> list[Any]:
    with translated(folder):
        service = FindFolderService(account=account, page_size=FIND_PAGE_SIZE)
        return list(
            service.call(
                folders=[parent],
                additional_fields=_NAME_PATHS,
                restriction=None,
                shape=ID_ONLY,
                depth=SHALLOW,
                max_items=None,
                offset=0,
            )
        )


def resolve_path(account: Any, mailbox: str, path: str, folder: str) -> str:
    """The FolderId of ``path`` under msgfolderroot, one FindFolder per level."""
    levels = [level.strip() for level in path.split(PATH_SEPARATOR) if level.strip()]
    if not levels:
        raise PermanentFailure(f"folder {folder!r} names no folder")
    parent = distinguished(account, mailbox, "msgfolderroot")
    walked: list[str] = []
    for level in levels:
        children = [c for c in _children(account, parent, folder) if not isinstance(c, Exception)]
        match = next((c for c in children if (c.name or "").lower() == level.lower()), None)
        if match is None:
            where = PATH_SEPARATOR.join(walked) or "the top of the mailbox"
            names = ", ".join(sorted(c.name for c in children if c.name)) or "no folders"
            raise PermanentFailure(
                f"folder {folder!r}: {where} has no folder named {level!r} "
                f"(it has {names}); fix [sync] extra_folders"
            )
        walked.append(match.name)
        parent = Folder(root=parent.root, id=match.id)
    return str(parent.id)
