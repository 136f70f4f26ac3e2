"""UpdateItem on the world: categories, with Exchange's change-key rules.

What we write back is the Outlook category list (``item:Categories``), set
with SetItemField or cleared with DeleteItemField; other properties are
refused. The rules follow the UpdateItem reference:

- ConflictResolution defaults to AutoResolve; AutoResolve and NeverOverwrite
  need the ItemId's ChangeKey (ErrorChangeKeyRequired without it).
- A stale change key under NeverOverwrite is ErrorIrresolvableConflict;
  under AutoResolve and AlwaysOverwrite the update is applied.
- A message needs MessageDisposition (ErrorMessageDispositionRequired).
- Each ItemChange gets its own response message; a success carries the
  item's new ItemId/ChangeKey and ``ConflictResults``.

Writing categories goes through ``World.set_categories``, so the change is in
the ground truth and in the next sync round, as after Graph's PATCH.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from mailsync.sandbox.calendarplan import event_ref, is_event_ref
from mailsync.sandbox.ews.operations import EwsOperations, ItemError, Target
from mailsync.sandbox.ews.render import change_key
from mailsync.sandbox.ews.soap import attr, error, m, success, t

CATEGORIES_URI = "item:Categories"
CONFLICT_RESOLUTIONS = ("AutoResolve", "NeverOverwrite", "AlwaysOverwrite")
DISPOSITIONS = ("SaveOnly", "SendOnly", "SendAndSaveCopy")


@dataclass(frozen=True, slots=True)
class _Found:
    """One item an ItemChange names: where it is and what version it is at."""

    mailbox: int
    refs: tuple[int, ...]  # a recurring master stands for its present occurrences
    element: str  # Message | CalendarItem
    change_key: str


class ItemUpdates:
    def __init__(self, operations: EwsOperations) -> None:
        self.operations = operations
        self.world = operations.world

    def update_item(self, operation: ET.Element, target: Target) -> list[str]:
        resolution = operation.get("ConflictResolution", "AutoResolve")
        disposition = operation.get("MessageDisposition")
        if resolution not in CONFLICT_RESOLUTIONS:
            raise ItemError("ErrorSchemaValidation", f"ConflictResolution {resolution!r}.")
        changes = operation.find(m("ItemChanges"))
        out = []
        for change in changes.findall(t("ItemChange")) if changes is not None else []:
            try:
                out.append(self._one(change, target, resolution, disposition))
            except ItemError as exc:
                out.append(error("UpdateItem", exc.code, exc.message))
        return out

    def _one(
        self, change: ET.Element, target: Target, resolution: str, disposition: str | None
    ) -> str:
        id_elem = change.find(t("ItemId"))
        if id_elem is None:
            raise ItemError("ErrorInvalidIdMalformed", "Only ItemId is supported here.")
        given_key = id_elem.get("ChangeKey")
        found = self._find(id_elem.get("Id", ""), target)
        categories = self._categories(change)
        if found.element == "Message" and disposition not in DISPOSITIONS:
            raise ItemError(
                "ErrorMessageDispositionRequired",
                "MessageDisposition attribute is required for updating message items.",
            )
        if not given_key and resolution != "AlwaysOverwrite":
            raise ItemError(
                "ErrorChangeKeyRequired", "The change key is required for this operation."
            )
        if given_key and given_key != found.change_key and resolution == "NeverOverwrite":
            raise ItemError(
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )
        with self.world.lock:
            for ref in found.refs:
                self.world.set_categories(found.mailbox, ref, list(categories))
        after = self._find(id_elem.get("Id", ""), target)
        return success(
            "UpdateItem",
            f"<m:Items><t:{after.element}><t:ItemId Id={attr(id_elem.get('Id', ''))} "
            f"ChangeKey={attr(after.change_key)}/></t:{after.element}></m:Items>"
            "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>",
        )

    def _categories(self, change: ET.Element) -> tuple[str, ...]:
        updates = change.find(t("Updates"))
        if updates is None or len(updates) == 0:
            raise ItemError("ErrorIncorrectUpdatePropertyCount", "An update has no changes.")
        categories: tuple[str, ...] = ()
        for update in updates:
            kind = update.tag.rpartition("}")[2]
            uri = update.find(t("FieldURI"))
            if uri is None or uri.get("FieldURI") != CATEGORIES_URI:
                raise ItemError(
                    "ErrorInvalidPropertyForOperation",
                    "This endpoint updates item:Categories only.",
                )
            if kind == "DeleteItemField":
                categories = ()
            elif kind == "SetItemField":
                holder = next((child for child in update if child is not uri), None)
                listed = holder.find(t("Categories")) if holder is not None else None
                if listed is None:
                    raise ItemError(
                        "ErrorIncorrectUpdatePropertyCount",
                        "SetItemField must carry the item with its Categories.",
                    )
                categories = tuple(s.text or "" for s in listed.findall(t("String")))
            else:
                raise ItemError("ErrorInvalidPropertyForOperation", f"{kind} is not supported.")
        return categories

    def _find(self, item_id: str, target: Target) -> _Found:
        decoded = self.world.ids.decode(item_id)
        if decoded is None:
            raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.")
        mailbox = self.operations.check_access(target, decoded[0])
        ref = decoded[1]
        gone = ItemError("ErrorItemNotFound", "The specified object was not found in the store.")
        if not is_event_ref(ref):
            folder, state = self.world.current_folder(mailbox, ref)
            if folder is None:
                raise gone
            version = state.seq if state else 0
            categories = state.categories if state else ()
            return _Found(mailbox, (ref,), "Message", change_key(version, ref, len(categories)))
        calendar = self.operations.calendar
        found = calendar.key_of_id(mailbox, item_id)
        if found is None:
            raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.")
        key, index = found
        present = calendar.present(mailbox, key)
        if index is None and calendar.series(key).occurrences == 1:
            index = 0
        indexes = present if index is None else [index] if index in present else []
        if not indexes:
            raise gone
        entry = self.operations.calendar_entry(mailbox, key, index)
        return _Found(
            mailbox,
            tuple(event_ref(key[0], key[1], i) for i in indexes),
            "CalendarItem",
            change_key(entry.version, entry.shown.ref, len(entry.categories)),
        )
