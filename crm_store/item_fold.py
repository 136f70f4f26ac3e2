"""Fold one stored item into another of the same kind: what hangs off the row moves over.

The add-in sometimes stores an item before the daemon can name it the way the
daemon does (a meeting by Exchange item id rather than iCalendar UID, a message
at send before it has a Message-ID). Once the sync recognises the item, the
add-in's row is *folded* into the daemon's: each kind's finder
(``crm_store.meeting_merge``, ``crm_store.message_merge``) decides which row
goes into which, and this module moves everything keyed by the folded row's
id, set-based, in the caller's transaction:

- its copies (the ``addin`` copy of each user who stored it), which is what
  lets those users see the merged row and find it again by their item id;
- whether it is tracked, and its body where the merged row has none;
- links, suppressions (a person's removals) and suggestions. People outrank
  rules (invariant 3): a person's link beats a rule's on the other row;
  between a person's link on one row and a person's removal on the other, the
  later decision stands (ties keep the link, as ``link_by_person`` lifts a
  removal). A suggestion a person decided beats a pending one.

Rows are moved in place (ids and creation times kept), so the merged item
lists its links in the order they were made. The kind's own children
(attendees, participants) are the finder's to settle, since only it knows
which of them the merged row already has; ``drop_folded`` then deletes the
folded rows with whatever children they still hold.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, select, true, update
from sqlalchemy.orm import Session

from crm_store.items import ItemKind
from crm_store.models import (
    Link,
    LinkSuggestion,
    Mailbox,
    Meeting,
    MeetingAttendee,
    MeetingCopy,
    Message,
    MessageCopy,
    MessageParticipant,
    Suppression,
)
from crm_store.upsert import chunks, table_of

_RANK = {"person": 2, "rule": 1, "inferred": 0}

Target = tuple[int, str, int]
"""(merged item id, target kind, target id)."""

Dependant = type[Link] | type[Suppression] | type[LinkSuggestion]


def move_dependants(session: Session, kind: ItemKind, into: Mapping[int, int]) -> None:
    """Move links, removals, suggestions and copies of the rows ``into`` maps; see the docstring."""
    if not into:
        return
    reals = sorted(set(into.values()))
    _merge_links_and_suppressions(session, kind, into, reals)
    _merge_suggestions(session, kind, into, reals)
    copy, column = _copy_of(kind)
    for chunk in chunks(sorted(into)):
        session.execute(
            update(copy).where(column.in_(chunk)).values({column.key: mapped(column, into, chunk)}),
            execution_options={"synchronize_session": False},
        )


def merge_tracking(
    session: Session,
    model: type[Meeting] | type[Message],
    into: Mapping[int, int],
    body_columns: Sequence[str],
    keeps_body: ColumnElement[bool] | None = None,
) -> None:
    """A person tracked a folded row: the merged row is tracked and keeps its body if it has none.

    ``keeps_body`` (a condition on the merged row) says where a body may be
    stored at all: a rule's "store without body" on the merged row sticks.
    """
    tracked: set[int] = set()
    bodies: dict[str, dict[int, str]] = {name: {} for name in body_columns}
    columns = [table_of(model).c[name] for name in body_columns]
    for chunk in chunks(sorted(into)):
        rows = session.execute(select(model.id, model.tracked, *columns).where(model.id.in_(chunk)))
        for folded, is_tracked, *texts in rows:
            real = into[int(folded)]
            if is_tracked:
                tracked.add(real)
            for name, body in zip(body_columns, texts, strict=True):
                if body is not None:
                    bodies[name].setdefault(real, body)
    reals = sorted(tracked.union(*(set(found) for found in bodies.values())))
    for chunk in chunks(reals):
        values: dict[str, Any] = {"updated_at": func.now()}
        if tracked:
            values["tracked"] = case((model.id.in_(sorted(tracked)), true()), else_=model.tracked)
        for name, column in zip(body_columns, columns, strict=True):
            mine = {real: bodies[name][real] for real in chunk if real in bodies[name]}
            if mine:
                folded_body: Any = case(mine, value=model.id, else_=None)
                if keeps_body is not None:
                    folded_body = case((keeps_body, folded_body), else_=None)
                values[name] = func.coalesce(column, folded_body)
        session.execute(
            update(model).where(model.id.in_(chunk)).values(values),
            execution_options={"synchronize_session": False},
        )


def drop_folded(session: Session, kind: ItemKind, into: Mapping[int, int]) -> None:
    """Delete the folded rows and their attendees or participants, once all that stays is moved."""
    model: type[Meeting] | type[Message]
    children: type[MeetingAttendee] | type[MessageParticipant]
    if kind is ItemKind.MESSAGE:
        model, children, column = Message, MessageParticipant, MessageParticipant.message_id
    else:
        model, children, column = Meeting, MeetingAttendee, MeetingAttendee.meeting_id
    for chunk in chunks(sorted(into)):
        session.execute(
            delete(children).where(column.in_(chunk)),
            execution_options={"synchronize_session": False},
        )
        session.execute(
            delete(model).where(model.id.in_(chunk)),
            execution_options={"synchronize_session": False},
        )


def copies_outside(
    session: Session, kind: ItemKind, mailbox_id: int, named: Mapping[int, Collection[str]]
) -> set[int]:
    """Folded rows with a copy in a mailbox other than ``mailbox_id`` whose address is not named.

    ``named`` maps each row to the addresses its merged item names. Folding
    a row with a copy elsewhere would let that mailbox's owner see the merged
    item: a snapshot's claims never buy access to someone else's correspondence.
    """
    copy, column = _copy_of(kind)
    outside: set[int] = set()
    for chunk in chunks(sorted(named)):
        rows = session.execute(
            select(column, copy.mailbox_id, Mailbox.address)
            .join(Mailbox, Mailbox.id == copy.mailbox_id)
            .where(column.in_(chunk))
        )
        for folded, box, address in rows:
            if int(box) != mailbox_id and address.lower() not in named[int(folded)]:
                outside.add(int(folded))
    return outside


def mapped(column: Any, into: Mapping[int, int], ids: Iterable[int]) -> Any:
    """``CASE column WHEN folded THEN merged …``: one UPDATE moves a whole chunk."""
    return case({folded: into[folded] for folded in ids}, value=column)


def _copy_of(kind: ItemKind) -> tuple[type[MessageCopy] | type[MeetingCopy], Any]:
    if kind is ItemKind.MESSAGE:
        return MessageCopy, MessageCopy.__table__.c.message_id
    return MeetingCopy, MeetingCopy.__table__.c.meeting_id


def _rows_of(
    session: Session, model: Dependant, kind: ItemKind, ids: list[int]
) -> list[dict[str, Any]]:
    table = table_of(model)
    found: list[dict[str, Any]] = []
    for chunk in chunks(ids):
        rows = session.execute(
            select(*table.c)
            .where(table.c.item_kind == kind.value, table.c.item_id.in_(chunk))
            .order_by(table.c.id)
        )
        found.extend(dict(row._mapping) for row in rows)
    return found


def _merge_links_and_suppressions(
    session: Session, kind: ItemKind, into: Mapping[int, int], reals: list[int]
) -> None:
    ids = sorted({*into, *reals})
    links: dict[Target, list[dict[str, Any]]] = {}
    for row in _rows_of(session, Link, kind, ids):
        links.setdefault(_target(row, into), []).append(row)
    removals: dict[Target, list[dict[str, Any]]] = {}
    for row in _rows_of(session, Suppression, kind, ids):
        removals.setdefault(_target(row, into), []).append(row)

    kept_links: list[dict[str, Any]] = []
    kept_removals: list[dict[str, Any]] = []
    for target in links.keys() | removals.keys():
        # The merged row's own link first: between equals, nothing changes.
        candidates = sorted(
            links.get(target, []),
            key=lambda r: (-_RANK[r["origin_kind"]], r["item_id"] in into, r["id"]),
        )
        link = candidates[0] if candidates else None
        removal = max(removals.get(target, []), key=lambda r: r["created_at"], default=None)
        if link is not None and removal is not None:
            person_later = link["origin_kind"] == "person" and not (
                removal["created_at"] > link["created_at"]
            )
            if person_later:
                removal = None
            else:
                link = None
        if link is not None:
            kept_links.append(link)
        if removal is not None:
            kept_removals.append(removal)
    _replace(session, Link, into, _flatten(links), kept_links)
    _replace(session, Suppression, into, _flatten(removals), kept_removals)


def _merge_suggestions(
    session: Session, kind: ItemKind, into: Mapping[int, int], reals: list[int]
) -> None:
    suggestions: dict[Target, list[dict[str, Any]]] = {}
    for row in _rows_of(session, LinkSuggestion, kind, sorted({*into, *reals})):
        suggestions.setdefault(_target(row, into), []).append(row)
    kept = [
        min(rows, key=lambda r: (r["status"] == "pending", r["item_id"] in into, r["id"]))
        for rows in suggestions.values()
    ]
    _replace(session, LinkSuggestion, into, _flatten(suggestions), kept)


def _target(row: Mapping[str, Any], into: Mapping[int, int]) -> Target:
    item_id = int(row["item_id"])
    return (into.get(item_id, item_id), row["target_kind"], int(row["target_id"]))


def _flatten(grouped: Mapping[Target, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for rows in grouped.values() for row in rows]


def _replace(
    session: Session,
    model: Dependant,
    into: Mapping[int, int],
    rows: list[dict[str, Any]],
    kept: list[dict[str, Any]],
) -> None:
    """Delete what lost; move what the folded rows keep onto the merged id, row ids unchanged."""
    kept_ids = {row["id"] for row in kept}
    table = table_of(model)
    gone = sorted(row["id"] for row in rows if row["id"] not in kept_ids)
    for chunk in chunks(gone):
        session.execute(table.delete().where(table.c.id.in_(chunk)))
    moved = sorted(row["id"] for row in kept if row["item_id"] in into)
    for chunk in chunks(moved):
        session.execute(
            table.update()
            .where(table.c.id.in_(chunk))
            .values(item_id=mapped(table.c.item_id, into, _folded_of(kept, chunk)))
        )


def _folded_of(kept: list[dict[str, Any]], ids: Sequence[int]) -> set[int]:
    wanted = set(ids)
    return {int(row["item_id"]) for row in kept if row["id"] in wanted}


__all__ = ["copies_outside", "drop_folded", "mapped", "merge_tracking", "move_dependants"]
