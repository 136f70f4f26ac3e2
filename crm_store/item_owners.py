"""Which mailboxes hold a stored item: whose rules (mailbox owner) it went through.

The sync links each copy with its own mailbox owner (inference reads the
owner's open deals), and the links of all copies add up on the one stored
item. Replaying the rules over stored history (``mailsync rules dry-run``)
must therefore run them once per mailbox holding the item, not for one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.items import ItemKind
from crm_store.models import Mailbox, MeetingCopy, MessageCopy
from crm_store.upsert import chunks


def mailboxes_holding(
    session: Session, kind: ItemKind, item_ids: Sequence[int]
) -> dict[int, tuple[str, ...]]:
    """item id → addresses of the mailboxes with a copy of it (removed copies included:
    their links stay on the item), in mailbox id order."""
    copy = MessageCopy if kind is ItemKind.MESSAGE else MeetingCopy
    item_column = MessageCopy.message_id if kind is ItemKind.MESSAGE else MeetingCopy.meeting_id
    found: dict[int, list[str]] = {}
    for chunk in chunks(sorted(set(item_ids))):
        rows = session.execute(
            select(item_column, Mailbox.address)
            .join(Mailbox, Mailbox.id == copy.mailbox_id)
            .where(item_column.in_(chunk))
            .order_by(item_column, Mailbox.id)
        )
        for item_id, address in rows:
            owners = found.setdefault(int(item_id), [])
            if address not in owners:
                owners.append(str(address))
    return {item_id: tuple(owners) for item_id, owners in found.items()}
