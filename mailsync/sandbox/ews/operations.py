"""The EWS operations our sync sends, over the Graph sandbox's world.

Each public method takes the parsed operation element and the mailbox the
request acts on, and returns the response messages (or raises ``EwsError``
for a whole-request failure). Mail folders page through ``World.delta_page``
exactly as Graph delta does; the calendar pages through series (see
``calendar``). ``MaxChangesReturned`` is capped at 512 as Exchange does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import timedelta

from mailsync.sandbox.calendarplan import CALENDAR, event_ref, is_event_ref
from mailsync.sandbox.ews.calendar import CalendarView, SeriesKey
from mailsync.sandbox.ews.folders import FOLDER_ID_PREFIX, FolderNode, FolderTree, paging_view
from mailsync.sandbox.ews.render import (
    CalendarEntry,
    MessageCopy,
    OccurrenceRef,
    Shape,
    calendar_item_xml,
    change_key,
    message_xml,
)
from mailsync.sandbox.ews.soap import attr, error, m, success, t
from mailsync.sandbox.ews.syncstate import InvalidSyncState, SyncPosition, SyncStateCodec
from mailsync.sandbox.graphjson import folder_id
from mailsync.sandbox.mailplan import MAIL_FOLDERS
from mailsync.sandbox.mixing import mix
from mailsync.sandbox.world import DeltaPosition, SandboxError, World

MAX_CHANGES = 512
FOLDERS = (*MAIL_FOLDERS, CALENDAR)


class EwsError(Exception):
    """A failure of the whole request, answered as a SOAP fault (HTTP 500)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ItemError(Exception):
    """A failure of one response message (the request as a whole succeeds)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Target:
    """The mailbox a request acts on, and whether the caller may open others."""

    mailbox: int
    may_open_others: bool


def parse_shape(operation: ET.Element, tag: str) -> Shape:
    shape = operation.find(m(tag))
    if shape is None:
        return Shape(False, frozenset())
    base = shape.findtext(t("BaseShape"), "IdOnly").strip()
    uris = frozenset(f.get("FieldURI", "") for f in shape.iter(t("FieldURI")) if f.get("FieldURI"))
    return Shape(base in ("AllProperties", "Default"), uris)


class EwsOperations:
    def __init__(
        self, world: World, codec: SyncStateCodec, folders: FolderTree | None = None
    ) -> None:
        self.world = world
        self.codec = codec
        self.calendar = CalendarView(world)
        self.folders = folders or FolderTree(world.config.seed, len(world.users))

    # ---- addressing ----------------------------------------------------------------------

    def mailbox_named(self, address: str) -> int:
        try:
            return self.world.mailbox_index(address)
        except SandboxError as exc:
            raise ItemError(
                "ErrorNonExistentMailbox", f"No mailbox with such guid: {address}."
            ) from exc

    def check_access(self, target: Target, mailbox: int) -> int:
        if mailbox != target.mailbox and not target.may_open_others:
            raise ItemError(
                "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        return mailbox

    def folder_of(self, elem: ET.Element, target: Target) -> tuple[int, str]:
        """(mailbox, folder key) of a FolderId or DistinguishedFolderId element."""
        mailbox, node = self.node_of(elem, target)
        return mailbox, node.key

    def node_of(self, elem: ET.Element, target: Target) -> tuple[int, FolderNode]:
        """(mailbox, folder) of a FolderId or DistinguishedFolderId element."""
        distinguished = elem.find(t("DistinguishedFolderId"))
        if distinguished is not None:
            name = distinguished.get("Id", "")
            address = distinguished.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
            mailbox = self.mailbox_named(address) if address else target.mailbox
            node = self.folders.distinguished(name)
            if node is None:
                raise ItemError(
                    "ErrorFolderNotFound",
                    f"The specified folder '{name}' could not be found in the store.",
                )
            return self.check_access(target, mailbox), node
        plain = elem.find(t("FolderId"))
        if plain is not None:
            wanted = plain.get("Id", "")
            found = self.folders.by_id(wanted)
            if found is None and wanted.startswith(FOLDER_ID_PREFIX):
                raise ItemError(  # the form of our ids: a folder that is not (or no longer) there
                    "ErrorFolderNotFound", "The specified folder could not be found in the store."
                )
            if found is None:
                raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.")
            return self.check_access(target, found[0]), found[1]
        raise ItemError("ErrorInvalidRequest", "The request is missing a folder id.")

    def _total(self, mailbox: int, node: FolderNode) -> int:
        if node.world_folder is None:
            return 0
        return len(self.world.mailboxes[mailbox].baseline[node.world_folder])

    # ---- ConvertId (exchangelib's version probe) --------------------------------------------

    def convert_id(self, operation: ET.Element, target: Target) -> list[str]:
        ids = operation.find(m("SourceIds"))
        count = len(ids) if ids is not None else 0
        return [
            error("ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.") for _ in range(count)
        ]

    # ---- GetFolder ---------------------------------------------------------------------------

    def get_folder(self, operation: ET.Element, target: Target) -> list[str]:
        out = []
        everything = Shape(True, frozenset())
        container = operation.find(m("FolderIds"))
        for elem in list(container) if container is not None else []:
            wrapper = ET.Element("w")
            wrapper.append(elem)
            try:
                mailbox, node = self.node_of(wrapper, target)
            except ItemError as exc:
                out.append(error("GetFolder", exc.code, exc.message))
                continue
            folder_xml = self.folders.folder_xml(
                mailbox, node, self._total(mailbox, node), everything
            )
            out.append(success("GetFolder", f"<m:Folders>{folder_xml}</m:Folders>"))
        return out

    # ---- FindFolder ----------------------------------------------------------------------

    def find_folder(self, operation: ET.Element, target: Target) -> list[str]:
        """Subfolders of each parent (Shallow or Deep), paged by IndexedPageFolderView."""
        traversal = operation.get("Traversal", "Shallow")
        if traversal not in ("Shallow", "Deep"):
            raise EwsError("ErrorInvalidRequest", f"Traversal {traversal} is not supported here.")
        if operation.find(m("Restriction")) is not None:
            raise EwsError("ErrorInvalidRestriction", "Restrictions are not supported here.")
        shape = parse_shape(operation, "FolderShape")
        try:
            offset, size = paging_view(operation, m("IndexedPageFolderView"))
        except ValueError as exc:
            raise EwsError("ErrorInvalidRequest", str(exc)) from exc
        out = []
        parents = operation.find(m("ParentFolderIds"))
        for elem in list(parents) if parents is not None else []:
            wrapper = ET.Element("w")
            wrapper.append(elem)
            try:
                mailbox, node = self.node_of(wrapper, target)
            except ItemError as exc:
                out.append(error("FindFolder", exc.code, exc.message))
                continue
            found = (
                self.folders.children(node)
                if traversal == "Shallow"
                else self.folders.descendants(node)
            )
            page = found[offset : offset + size]
            end = offset + len(page)
            folders = "".join(
                self.folders.folder_xml(mailbox, f, self._total(mailbox, f), shape) for f in page
            )
            last = "true" if end >= len(found) else "false"
            out.append(
                success(
                    "FindFolder",
                    f'<m:RootFolder IndexedPagingOffset="{end}" TotalItemsInView="{len(found)}" '
                    f'IncludesLastItemInRange="{last}"><t:Folders>{folders}</t:Folders>'
                    "</m:RootFolder>",
                )
            )
        return out

    # ---- SyncFolderItems -----------------------------------------------------------------------

    def sync_folder_items(self, operation: ET.Element, target: Target) -> list[str]:
        folder_elem = operation.find(m("SyncFolderId"))
        if folder_elem is None:
            raise EwsError(
                "ErrorSchemaValidation",
                "The request failed schema validation: SyncFolderId is missing.",
            )
        try:
            mailbox, folder = self.folder_of(folder_elem, target)
            shape = parse_shape(operation, "ItemShape")
            wanted = int(operation.findtext(m("MaxChangesReturned"), "100"))
            if not 1 <= wanted <= MAX_CHANGES:
                raise ItemError(
                    "ErrorInvalidArgument", f"MaxChangesReturned must be 1 to {MAX_CHANGES}."
                )
            position = self._position(mailbox, folder, operation.findtext(m("SyncState")))
            changes: list[str]
            if folder not in FOLDERS:  # a folder with no world folder in it stays empty
                changes = []
                next_position = SyncPosition(
                    folder, position.high, position.high, 1, 0, position.epoch, True, False
                )
            elif folder == CALENDAR:
                changes, next_position = self._calendar_changes(mailbox, position, wanted, shape)
            else:
                changes, next_position = self._mail_changes(mailbox, position, wanted, shape)
        except ItemError as exc:
            return [error("SyncFolderItems", exc.code, exc.message)]
        state = self.codec.encode(mailbox, next_position)
        last = "true" if next_position.round_done else "false"
        return [
            success(
                "SyncFolderItems",
                f"<m:SyncState>{state}</m:SyncState>"
                f"<m:IncludesLastItemInRange>{last}</m:IncludesLastItemInRange>"
                f"<m:Changes>{''.join(changes)}</m:Changes>",
            )
        ]

    def _position(self, mailbox: int, folder: str, state: str | None) -> SyncPosition:
        with self.world.lock:
            box = self.world.mailboxes[mailbox]
            epoch = box.epochs.get(folder, 0)
            high = len(box.changelog)
        if not state or not state.strip():
            return SyncPosition(folder, 0, high, 0, 0, epoch)
        try:
            position = self.codec.decode(state, mailbox, folder)
        except InvalidSyncState as exc:
            raise ItemError(
                "ErrorInvalidSyncStateData",
                "Synchronization state data is corrupt or otherwise invalid.",
            ) from exc
        if position.epoch != epoch:
            raise ItemError(
                "ErrorInvalidSyncStateData",
                "Synchronization state data is corrupt or otherwise invalid.",
            )
        if position.round_done:
            return SyncPosition(folder, position.since, high, 1, 0, epoch, initial=False)
        return position

    def _mail_changes(
        self, mailbox: int, position: SyncPosition, wanted: int, shape: Shape
    ) -> tuple[list[str], SyncPosition]:
        # World positions count the change phase by changelog offset; ours start at ``since``.
        offset = position.offset if position.phase == 0 else position.since + position.offset
        delta = DeltaPosition(
            position.folder,
            position.since,
            position.high,
            position.phase,
            offset,
            position.epoch,
            initial=position.initial,
        )
        page = self.world.delta_page(mailbox, delta, wanted)
        changes = []
        for entry in page.entries:
            item_id = self.world.ids.encode(mailbox, entry.ref)
            # The item's current version, as GetItem and UpdateItem see it.
            key = (
                change_key(entry.state.seq, entry.ref, len(entry.state.categories))
                if entry.state
                else change_key(0, entry.ref, 0)
            )
            id_xml = f"<t:ItemId Id={attr(item_id)} ChangeKey={attr(key)}/>"
            if entry.removed is not None:
                changes.append(f"<t:Delete>{id_xml}</t:Delete>")
                continue
            kind = (
                "Update"
                if position.since > 0
                and self.world.baseline_folder(mailbox, entry.ref) == position.folder
                else "Create"
            )
            body = (
                self.message_item(mailbox, entry.ref, position.folder, shape)
                if shape.field_uris or shape.all_properties
                else f"<t:Message>{id_xml}</t:Message>"
            )
            changes.append(f"<t:{kind}>{body}</t:{kind}>")
        if page.next_position is not None:
            nxt = page.next_position
            resume = nxt.offset if nxt.phase == 0 else nxt.offset - position.since
            return changes, SyncPosition(
                position.folder,
                position.since,
                position.high,
                nxt.phase,
                resume,
                position.epoch,
                initial=position.initial,
            )
        return changes, SyncPosition(
            position.folder, position.high, position.high, 1, 0, position.epoch, True, False
        )

    def _calendar_changes(
        self, mailbox: int, position: SyncPosition, wanted: int, shape: Shape
    ) -> tuple[list[str], SyncPosition]:
        if position.phase == 0:
            keys = self.calendar.baseline(mailbox)
            keys += [
                k for k in self.calendar.changed(mailbox, 0, position.high) if k not in set(keys)
            ]
        else:
            keys = self.calendar.changed(mailbox, position.since, position.high)
        chunk = keys[position.offset : position.offset + wanted]
        changes = []
        for key in chunk:
            present = self.calendar.present(mailbox, key)
            item_id = self.calendar.item_id(mailbox, key)
            if not present:
                if position.phase == 1 and self.calendar.ever_held(mailbox, key):
                    changes.append(
                        f'<t:Delete><t:ItemId Id={attr(item_id)} ChangeKey="DwAAAA=="/></t:Delete>'
                    )
                continue
            entry = self.calendar_entry(mailbox, key, None)
            kind = "Update" if position.phase == 1 else "Create"
            changes.append(f"<t:{kind}>{calendar_item_xml(entry, shape)}</t:{kind}>")
        end = position.offset + len(chunk)
        if end < len(keys):
            return changes, SyncPosition(
                CALENDAR,
                position.since,
                position.high,
                position.phase,
                end,
                position.epoch,
                initial=position.initial,
            )
        return changes, SyncPosition(
            CALENDAR, position.high, position.high, 1, 0, position.epoch, True, False
        )

    # ---- items ----------------------------------------------------------------------------------

    def message_item(self, mailbox: int, ref: int, folder: str, shape: Shape) -> str:
        _, state = self.world.current_folder(mailbox, ref)
        message = self.world.plan.render(ref)
        address = self.world.mailbox_address(mailbox)
        received = (
            message.sent_at
            if message.sender.address == address
            else message.sent_at + timedelta(seconds=31)
        )
        copy = MessageCopy(
            message=message,
            item_id=self.world.ids.encode(mailbox, ref),
            parent_folder_id=folder_id(self.world.config.seed, mailbox, folder),
            received_at=received,
            categories=state.categories if state else (),
            is_read=state.is_read if state else True,
            version=state.seq if state else 0,
        )
        broken = None
        if self.world.is_malformed(ref):
            broken = mix(ref, 0xBAD) % 4
            if broken == 0:
                raise ItemError("ErrorCorruptData", "The item is corrupt and cannot be read.")
        return message_xml(copy, shape, broken=broken)

    def calendar_entry(self, mailbox: int, key: SeriesKey, index: int | None) -> CalendarEntry:
        series = self.calendar.series(key)
        present = self.calendar.present(mailbox, key)
        address = self.world.mailbox_address(mailbox)
        states = self.world.mailboxes[mailbox].overlay
        version = max(
            (
                states[r].seq
                for r in (event_ref(key[0], key[1], i) for i in range(series.occurrences))
                if r in states
            ),
            default=0,
        )
        categories: tuple[str, ...] = ()
        if index is not None or series.occurrences == 1:
            i = 0 if index is None else index
            occurrence = self.world.occurrence(event_ref(key[0], key[1], i))
            state = states.get(occurrence.ref)
            categories = state.categories if state else ()
            item_type = "Single" if series.occurrences == 1 else occurrence.type.capitalize()
            return CalendarEntry(
                self.calendar.occurrence_id(mailbox, key, i),
                address,
                series,
                item_type,
                occurrence,
                categories,
                version,
            )
        refs = [
            OccurrenceRef(
                self.calendar.occurrence_id(mailbox, key, i),
                self.world.occurrence(event_ref(key[0], key[1], i)),
            )
            for i in present
        ]
        deleted = tuple(
            self.world.occurrence(event_ref(key[0], key[1], i)).original_start or series.start
            for i in range(series.occurrences)
            if i not in set(present)
        )
        first = self.world.occurrence(event_ref(key[0], key[1], 0))
        return CalendarEntry(
            item_id=self.calendar.item_id(mailbox, key),
            mailbox_address=address,
            series=series,
            item_type="RecurringMaster",
            shown=first,
            categories=categories,
            version=version,
            first=refs[0] if refs else None,
            last=refs[-1] if refs else None,
            modified=tuple(r for r in refs if r.occurrence.type == "exception"),
            deleted_starts=deleted,
        )

    # ---- GetItem ---------------------------------------------------------------------

    def get_item(self, operation: ET.Element, target: Target) -> list[str]:
        shape = parse_shape(operation, "ItemShape")
        container = operation.find(m("ItemIds"))
        out = []
        for elem in list(container) if container is not None else []:
            try:
                out.append(
                    success("GetItem", f"<m:Items>{self._one_item(elem, target, shape)}</m:Items>")
                )
            except ItemError as exc:
                out.append(error("GetItem", exc.code, exc.message))
        return out

    def _one_item(self, elem: ET.Element, target: Target, shape: Shape) -> str:
        tag = elem.tag.rpartition("}")[2]
        if tag == "ItemId":
            item_id = elem.get("Id", "")
        elif tag == "OccurrenceItemId":
            item_id = elem.get("RecurringMasterId", "")
        else:
            raise ItemError("ErrorInvalidIdMalformed", f"{tag} is not supported here.")
        decoded = self.world.ids.decode(item_id)
        if decoded is None:
            raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.")
        mailbox = self.check_access(target, decoded[0])
        ref = decoded[1]
        if not is_event_ref(ref):
            if tag != "ItemId":
                raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.")
            folder, _ = self.world.current_folder(mailbox, ref)
            if folder is None:
                raise ItemError(
                    "ErrorItemNotFound", "The specified object was not found in the store."
                )
            return self.message_item(mailbox, ref, folder, shape)
        found = self.calendar.key_of_id(mailbox, item_id)
        if found is None:
            raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.")
        key, index = found
        present = self.calendar.present(mailbox, key)
        if tag == "OccurrenceItemId":
            if index is not None:
                raise ItemError(
                    "ErrorInvalidIdMalformed", "RecurringMasterId is not a recurring master."
                )
            instance = int(elem.get("InstanceIndex", "0"))
            series = self.calendar.series(key)
            if not present:
                raise ItemError(
                    "ErrorItemNotFound", "The specified object was not found in the store."
                )
            if instance < 1 or instance > series.occurrences:
                raise ItemError(
                    "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                    "Occurrence index is out of recurrence range.",
                )
            if instance - 1 not in present:
                raise ItemError(
                    "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                    "Occurrence with this index was previously deleted from the recurrence.",
                )
            index = instance - 1
        elif (index is None and not present) or (index is not None and index not in present):
            raise ItemError("ErrorItemNotFound", "The specified object was not found in the store.")
        return calendar_item_xml(self.calendar_entry(mailbox, key, index), shape)
