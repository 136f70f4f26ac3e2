"""The folder hierarchy every mailbox shows over EWS, and FindFolder/GetFolder on it.

Under the top of information store (``msgfolderroot``) sit the distinguished
folders Exchange always has (Inbox, Sent Items, Deleted Items, Calendar and
the empty Drafts, Junk Email, Outbox, Conversation History) and the folders
Outlook users create. The world's ``archive`` folder is such a user folder:
Outlook's "Archive", which EWS has no distinguished id for. Where it sits is
configurable (``placements``: world folder → display path), so a test can put
the world's archive at ``Inbox/Customers`` and sync it as a user folder.
Levels of a path that hold no world folder are empty folders.

World folders keep the Graph sandbox's folder ids; the others get ids of the
same form from the seed, the mailbox and the path.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from mailsync.sandbox.calendarplan import CALENDAR
from mailsync.sandbox.ews.render import Shape
from mailsync.sandbox.ews.soap import attr, text_element
from mailsync.sandbox.graphjson import folder_id as world_folder_id
from mailsync.sandbox.mixing import mix

ROOT = "msgfolderroot"
FOLDER_ID_PREFIX = "AQMkAD"  # graphjson.folder_id's form, kept for the folders added here
ROOT_NAME = "Top of Information Store"
SEPARATOR = "/"
DEFAULT_PLACEMENTS: Mapping[str, str] = {"archive": "Archive"}

# (distinguished id, display name, world folder it shows or None when always empty)
DISTINGUISHED = (
    ("inbox", "Inbox", "inbox"),
    ("sentitems", "Sent Items", "sentitems"),
    ("deleteditems", "Deleted Items", "deleteditems"),
    ("calendar", "Calendar", CALENDAR),
    ("drafts", "Drafts", None),
    ("junkemail", "Junk Email", None),
    ("outbox", "Outbox", None),
    ("conversationhistory", "Conversation History", None),
)


@dataclass(frozen=True, slots=True)
class FolderNode:
    path: str  # display path under msgfolderroot; "" for msgfolderroot itself
    name: str
    parent: str | None
    world_folder: str | None  # the world's folder whose items it holds; None: empty
    distinguished: str | None

    @property
    def key(self) -> str:
        """What operations call the folder: the world's key, else ``path:<path>``."""
        return self.world_folder or f"path:{self.path}"

    @property
    def is_calendar(self) -> bool:
        return self.world_folder == CALENDAR


class FolderTree:
    def __init__(
        self, seed: int, mailboxes: int, placements: Mapping[str, str] = DEFAULT_PLACEMENTS
    ) -> None:
        self.seed = seed
        self._nodes: dict[str, FolderNode] = {"": FolderNode("", ROOT_NAME, None, None, ROOT)}
        for distinguished, name, world in DISTINGUISHED:
            self._nodes[name.lower()] = FolderNode(name, name, "", world, distinguished)
        for world, path in placements.items():
            self._place(path, world)
        self._by_distinguished = {
            n.distinguished: n for n in self._nodes.values() if n.distinguished
        }
        self._by_key = {n.key: n for n in self._nodes.values()}
        self._by_id = {
            self.folder_id(mailbox, node): (mailbox, node)
            for mailbox in range(mailboxes)
            for node in self._nodes.values()
        }

    def _place(self, path: str, world: str) -> None:
        levels = [level.strip() for level in path.split(SEPARATOR) if level.strip()]
        if not levels:
            raise ValueError(f"placement of {world!r} names no folder")
        parent = ""
        for depth, level in enumerate(levels):
            here = SEPARATOR.join(levels[: depth + 1])
            last = depth == len(levels) - 1
            existing = self._nodes.get(here.lower())
            if existing is None:
                existing = FolderNode(here, level, parent, world if last else None, None)
            elif last:
                if existing.world_folder is not None:
                    raise ValueError(f"{here!r} already holds the world's {existing.world_folder}")
                existing = FolderNode(existing.path, existing.name, existing.parent, world, None)
            self._nodes[here.lower()] = existing
            parent = existing.path

    # ---- lookups ---------------------------------------------------------------------

    def distinguished(self, name: str) -> FolderNode | None:
        return self._by_distinguished.get(name)

    def by_id(self, folder_id: str) -> tuple[int, FolderNode] | None:
        return self._by_id.get(folder_id)

    def by_key(self, key: str) -> FolderNode | None:
        return self._by_key.get(key)

    def children(self, node: FolderNode) -> list[FolderNode]:
        return [n for n in self._nodes.values() if n.parent == node.path and n is not node]

    def descendants(self, node: FolderNode) -> list[FolderNode]:
        found = []
        for child in self.children(node):
            found.append(child)
            found.extend(self.descendants(child))
        return found

    def folder_id(self, mailbox: int, node: FolderNode) -> str:
        if node.world_folder is not None:
            return world_folder_id(self.seed, mailbox, node.world_folder)
        raw = mix(self.seed, 0xF1, mailbox, zlib.crc32(node.path.lower().encode())).to_bytes(
            8, "big"
        )
        return FOLDER_ID_PREFIX + base64.urlsafe_b64encode(raw * 2).decode().rstrip("=")

    # ---- XML --------------------------------------------------------------------------

    def folder_xml(self, mailbox: int, node: FolderNode, total: int, shape: Shape) -> str:
        """A ``t:Folder`` (``t:CalendarFolder``) with the properties the shape asks for."""
        tag = "CalendarFolder" if node.is_calendar else "Folder"
        fid = self.folder_id(mailbox, node)
        parts = [f'<t:{tag}><t:FolderId Id={attr(fid)} ChangeKey="AQAAAA=="/>']
        if node.parent is not None and shape.wants("folder:ParentFolderId"):
            parent = self._nodes[node.parent.lower()]
            parent_id = self.folder_id(mailbox, parent)
            parts.append(f'<t:ParentFolderId Id={attr(parent_id)} ChangeKey="AQAAAA=="/>')
        if shape.wants("folder:FolderClass"):
            parts.append(
                text_element("FolderClass", "IPF.Appointment" if node.is_calendar else "IPF.Note")
            )
        if shape.wants("folder:DisplayName"):
            parts.append(text_element("DisplayName", node.name))
        if shape.wants("folder:TotalCount"):
            parts.append(text_element("TotalCount", total))
        if shape.wants("folder:ChildFolderCount"):
            parts.append(text_element("ChildFolderCount", len(self.children(node))))
        if not node.is_calendar and shape.wants("folder:UnreadCount"):
            parts.append("<t:UnreadCount>0</t:UnreadCount>")
        parts.append(f"</t:{tag}>")
        return "".join(parts)


def paging_view(operation: ET.Element, tag: str) -> tuple[int, int]:
    """(offset, max entries) of an IndexedPageFolderView; no view means everything."""
    view = operation.find(tag)
    if view is None:
        return 0, 1_000_000
    if view.get("BasePoint", "Beginning") != "Beginning":
        raise ValueError("BasePoint End is not supported here")
    return int(view.get("Offset", "0")), max(1, int(view.get("MaxEntriesReturned", "1000")))
