"""Suggested links waiting for a person: list what the viewer may decide, confirm or reject.

A suggestion is visible to whoever could see its item, and also to whoever
owns (or manages the owner of) the suggested record: the owner of a deal is
the right person to say whether an email belongs to it. Confirming makes a
person link (``link_by_person``), rejecting records a suppression
(``unlink_by_person``), so the rules never bring the pair back either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from crm_store.correspondence import Entry, RecordRef, load_entries, record_labels
from crm_store.items import ItemKind, TargetKind
from crm_store.links import StoredLink, link_by_person, unlink_by_person
from crm_store.models import LinkSuggestion, Meeting, Message
from crm_store.visibility import Viewer, target_in_reach, visible_items

DEFAULT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PendingSuggestion:
    id: int
    entry: Entry
    record: RecordRef
    reason: str
    created_at: datetime


class SuggestionNotFound(LookupError):
    """No pending suggestion with that id that this viewer may decide."""


def _decidable(viewer: Viewer) -> ColumnElement[bool]:
    item_visible = or_(
        and_(
            LinkSuggestion.item_kind == ItemKind.MESSAGE.value,
            LinkSuggestion.item_id.in_(
                select(Message.id).where(visible_items(ItemKind.MESSAGE, viewer, linked_only=False))
            ),
        ),
        and_(
            LinkSuggestion.item_kind == ItemKind.MEETING.value,
            LinkSuggestion.item_id.in_(
                select(Meeting.id).where(visible_items(ItemKind.MEETING, viewer, linked_only=False))
            ),
        ),
    )
    record_owned = target_in_reach(LinkSuggestion.target_kind, LinkSuggestion.target_id, viewer)
    not_private = or_(
        and_(
            LinkSuggestion.item_kind == ItemKind.MESSAGE.value,
            LinkSuggestion.item_id.in_(select(Message.id).where(Message.sensitivity != "private")),
        ),
        and_(
            LinkSuggestion.item_kind == ItemKind.MEETING.value,
            LinkSuggestion.item_id.in_(select(Meeting.id).where(Meeting.sensitivity != "private")),
        ),
    )
    return and_(LinkSuggestion.status == "pending", not_private, or_(item_visible, record_owned))


def pending_suggestions(
    session: Session, viewer: Viewer, *, limit: int = DEFAULT_LIMIT
) -> list[PendingSuggestion]:
    """Pending suggestions the viewer may decide, newest first."""
    rows = list(
        session.execute(
            select(LinkSuggestion)
            .where(_decidable(viewer))
            .order_by(LinkSuggestion.created_at.desc(), LinkSuggestion.id.desc())
            .limit(limit)
        ).scalars()
    )
    entries = {
        (e.kind, e.id): e
        for e in load_entries(
            session,
            [r.item_id for r in rows if r.item_kind == ItemKind.MESSAGE.value],
            [r.item_id for r in rows if r.item_kind == ItemKind.MEETING.value],
        )
    }
    labels = record_labels(session, ((TargetKind(r.target_kind), r.target_id) for r in rows))
    found = []
    for row in rows:
        entry = entries.get((ItemKind(row.item_kind), row.item_id))
        target = (TargetKind(row.target_kind), row.target_id)
        if entry is None or target not in labels:
            continue  # the item or record was deleted since the rules suggested it
        found.append(
            PendingSuggestion(
                id=row.id,
                entry=entry,
                record=RecordRef(target[0], target[1], labels[target]),
                reason=row.reason,
                created_at=row.created_at,
            )
        )
    return found


def _decidable_row(session: Session, viewer: Viewer, suggestion_id: int) -> LinkSuggestion:
    row = session.execute(
        select(LinkSuggestion).where(LinkSuggestion.id == suggestion_id, _decidable(viewer))
    ).scalar_one_or_none()
    if row is None:
        raise SuggestionNotFound(f"no pending suggestion {suggestion_id} you may decide")
    return row


def confirm_suggestion(session: Session, viewer: Viewer, suggestion_id: int) -> StoredLink:
    row = _decidable_row(session, viewer, suggestion_id)
    return link_by_person(
        session,
        ItemKind(row.item_kind),
        row.item_id,
        TargetKind(row.target_kind),
        row.target_id,
        actor=viewer.email,
        evidence=f"suggestion confirmed by {viewer.email}: {row.reason}".strip(": "),
    )


def reject_suggestion(session: Session, viewer: Viewer, suggestion_id: int) -> None:
    row = _decidable_row(session, viewer, suggestion_id)
    unlink_by_person(
        session,
        ItemKind(row.item_kind),
        row.item_id,
        TargetKind(row.target_kind),
        row.target_id,
        actor=viewer.email,
    )
