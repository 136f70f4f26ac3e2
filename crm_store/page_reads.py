"""What the link step reads about a page's items before linking them, one query per kind.

Suppressions are keyed by item id, but a page's items arrive with keys
(``message_key`` / ``meeting_key``): this joins the two so the engine asks
once per page, not once per item.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from crm_store.items import ItemKind, TargetKind
from crm_store.models import Meeting, Message, Suppression
from crm_store.upsert import chunks


def suppressions_by_item_key(
    session: Session, message_keys: Collection[str], meeting_keys: Collection[str]
) -> dict[str, set[tuple[TargetKind, int]]]:
    """Targets a person removed, per stored item key (items never stored are absent)."""
    found: dict[str, set[tuple[TargetKind, int]]] = {}
    for kind, model, key_column, keys in (
        (ItemKind.MESSAGE, Message, Message.message_key, message_keys),
        (ItemKind.MEETING, Meeting, Meeting.meeting_key, meeting_keys),
    ):
        for chunk in chunks(sorted(set(keys))):
            rows = session.execute(
                select(key_column, Suppression.target_kind, Suppression.target_id)
                .join(
                    Suppression,
                    and_(Suppression.item_kind == kind.value, Suppression.item_id == model.id),
                )
                .where(key_column.in_(chunk))
            )
            for key, target_kind, target_id in rows:
                found.setdefault(str(key), set()).add((TargetKind(target_kind), int(target_id)))
    return found
