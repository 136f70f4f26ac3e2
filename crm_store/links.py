"""Links made and removed by people, and the read side of links for rules and export.

People outrank rules (invariant 3): a person's link upgrades whatever rule
link was there and lifts an earlier suppression; a person's unlink deletes the
link whatever made it and records a suppression that the sync path honours.
The caller owns the transaction, as everywhere in crm_store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, case, delete, select, union_all, update
from sqlalchemy.orm import Session

from crm_store.items import ItemKind, LinkSpec, OriginKind, TargetKind
from crm_store.models import (
    Account,
    Contact,
    ContactEmail,
    Link,
    LinkSuggestion,
    Meeting,
    Message,
    Opportunity,
    Suppression,
)
from crm_store.upsert import chunks, insert_for, table_of

PERSON_ORIGIN = "person"
"""``links.origin`` of person-made links; who it was is in ``actor``."""


@dataclass(frozen=True, slots=True)
class StoredLink:
    """A link as stored, with its explanation (invariant 5)."""

    id: int
    item_kind: ItemKind
    item_id: int
    target_kind: TargetKind
    target_id: int
    origin_kind: OriginKind
    origin: str
    actor: str | None
    evidence: str
    created_at: datetime

    def as_spec(self) -> LinkSpec:
        return LinkSpec(
            self.target_kind,
            self.target_id,
            self.origin_kind,
            self.origin,
            self.evidence,
            self.actor,
        )


@dataclass(frozen=True, slots=True)
class ThreadLinks:
    """The links of one stored message, for thread correlation.

    Field names match ``rules.thread_lookup.StoredThreadLinks`` so the engine
    can hand them over unchanged.
    """

    message_id: int
    links: tuple[LinkSpec, ...]


class UnknownRecord(LookupError):
    """The item or CRM record named in a link request does not exist."""


# --------------------------------------------------------------------------- person actions


def link_by_person(
    session: Session,
    item_kind: ItemKind,
    item_id: int,
    target_kind: TargetKind,
    target_id: int,
    actor: str,
    evidence: str = "",
) -> StoredLink:
    """Link an item to a record on a person's word; upgrades a rule link in place.

    Also lifts a suppression of the same pair (the person changed their mind)
    and marks a pending suggestion for it confirmed.
    """
    _require_exists(session, item_kind, item_id, target_kind, target_id)
    table = table_of(Link)
    statement = insert_for(session, table).values(
        item_kind=item_kind.value,
        item_id=item_id,
        target_kind=target_kind.value,
        target_id=target_id,
        origin_kind=OriginKind.PERSON.value,
        origin=PERSON_ORIGIN,
        actor=actor,
        evidence=evidence or f"linked by {actor}",
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.item_kind, table.c.item_id, table.c.target_kind, table.c.target_id],
        set_={
            "origin_kind": OriginKind.PERSON.value,
            "origin": PERSON_ORIGIN,
            "actor": actor,
            "evidence": statement.excluded.evidence,
        },
    ).returning(*table.c)
    row = session.execute(upsert).one()
    pair = _pair_filter(Suppression, item_kind, item_id, target_kind, target_id)
    session.execute(delete(Suppression).where(*pair))
    session.execute(
        update(LinkSuggestion)
        .where(*_pair_filter(LinkSuggestion, item_kind, item_id, target_kind, target_id))
        .values(status="confirmed"),
        execution_options={"synchronize_session": False},
    )
    return _stored(row)


def unlink_by_person(
    session: Session,
    item_kind: ItemKind,
    item_id: int,
    target_kind: TargetKind,
    target_id: int,
    actor: str,
) -> bool:
    """Remove a link whoever made it and make sure no rule adds it again.

    Returns whether a link was there. The suppression is recorded either way:
    a person rejecting a link before the rules made it is a valid wish.
    """
    _require_exists(session, item_kind, item_id, target_kind, target_id)
    deleted = session.execute(
        delete(Link).where(*_pair_filter(Link, item_kind, item_id, target_kind, target_id)),
        execution_options={"synchronize_session": False},
    )
    table = table_of(Suppression)
    statement = insert_for(session, table).values(
        item_kind=item_kind.value,
        item_id=item_id,
        target_kind=target_kind.value,
        target_id=target_id,
        actor=actor,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[
                table.c.item_kind,
                table.c.item_id,
                table.c.target_kind,
                table.c.target_id,
            ],
            set_={"actor": actor},
        )
    )
    session.execute(
        update(LinkSuggestion)
        .where(*_pair_filter(LinkSuggestion, item_kind, item_id, target_kind, target_id))
        .values(status="rejected"),
        execution_options={"synchronize_session": False},
    )
    return bool(getattr(deleted, "rowcount", 0))


# --------------------------------------------------------------------------- reads


def links_for_item(session: Session, item_kind: ItemKind, item_id: int) -> list[StoredLink]:
    rows = session.execute(
        select(*table_of(Link).c)
        .where(Link.item_kind == item_kind.value, Link.item_id == item_id)
        .order_by(Link.id)
    )
    return [_stored(row) for row in rows]


def suppressions_for_items(
    session: Session, item_kind: ItemKind, item_ids: Iterable[int]
) -> dict[int, set[tuple[TargetKind, int]]]:
    """Suppressed targets per item, for many items in one query per few thousand ids."""
    found: dict[int, set[tuple[TargetKind, int]]] = {}
    for chunk in chunks(sorted(set(item_ids))):
        rows = session.execute(
            select(Suppression.item_id, Suppression.target_kind, Suppression.target_id).where(
                Suppression.item_kind == item_kind.value, Suppression.item_id.in_(chunk)
            )
        )
        for item_id, target_kind, target_id in rows:
            found.setdefault(int(item_id), set()).add((TargetKind(target_kind), int(target_id)))
    return found


def links_for_messages_by_message_id(
    session: Session, internet_message_ids: Sequence[str]
) -> dict[str, ThreadLinks]:
    """Stored links of the messages with these Message-IDs (In-Reply-To / References).

    Keys are the ids as given (angle brackets kept); ids of messages not stored
    are absent, and a stored message without links maps to an empty tuple.
    Links a person removed are already gone (unlinking deletes them).
    """
    wanted = {mid.strip(): mid for mid in internet_message_ids if mid and mid.strip()}
    ids_by_key: dict[str, int] = {}
    for chunk in chunks(sorted(wanted)):
        rows = session.execute(
            select(Message.message_key, Message.id).where(Message.message_key.in_(chunk))
        )
        ids_by_key.update({key: int(ident) for key, ident in rows})
    links = _message_links(session, ids_by_key.values())
    return {
        wanted[key]: ThreadLinks(ident, tuple(links.get(ident, ())))
        for key, ident in ids_by_key.items()
    }


def latest_links_for_conversations(
    session: Session, conversation_ids: Sequence[str]
) -> dict[str, list[tuple[str, ThreadLinks]]]:
    """Per conversation, its stored messages newest first as (message key, links).

    The rules pick the newest one that is not the message being linked, so
    every stored message of the conversation is returned (conversations are
    short; this keeps the choice with the caller).
    """
    found: dict[str, list[tuple[str, int]]] = {}
    for chunk in chunks(sorted({c for c in conversation_ids if c})):
        rows = session.execute(
            select(Message.conversation_id, Message.message_key, Message.id)
            .where(Message.conversation_id.in_(chunk))
            .order_by(Message.sent_at.desc().nulls_last(), Message.id.desc())
        )
        for conversation, key, ident in rows:
            found.setdefault(str(conversation), []).append((key, int(ident)))
    links = _message_links(session, [i for pairs in found.values() for _, i in pairs])
    return {
        conversation: [(key, ThreadLinks(i, tuple(links.get(i, ())))) for key, i in pairs]
        for conversation, pairs in found.items()
    }


def _message_links(session: Session, message_ids: Iterable[int]) -> dict[int, list[LinkSpec]]:
    by_message: dict[int, list[LinkSpec]] = {}
    for chunk in chunks(sorted(set(message_ids))):
        rows = session.execute(
            select(*table_of(Link).c)
            .where(Link.item_kind == ItemKind.MESSAGE.value, Link.item_id.in_(chunk))
            .order_by(Link.id)
        )
        for row in rows:
            by_message.setdefault(int(row.item_id), []).append(_stored(row).as_spec())
    return by_message


# --------------------------------------------------------------------------- export


@dataclass(frozen=True, slots=True)
class LinkExportRow:
    """One line of ``mailsync export links``."""

    item_kind: str
    item_key: str
    subject: str
    target_kind: str
    target_key: str
    origin: str
    actor: str | None
    reason: str
    created_at: datetime


def export_links(session: Session, *, batch_size: int = 1_000) -> Iterator[LinkExportRow]:
    """Every link with human keys: Message-ID or iCalendar UID, and the record's key.

    ``target_key`` is the account name, the contact's first email (position 0)
    or the opportunity code. Streams in batches so a large store does not sit
    in memory. Ordered by link id (creation order).
    """
    statement = _export_statement().execution_options(yield_per=batch_size)
    for row in session.execute(statement):
        yield LinkExportRow(
            item_kind=row.item_kind,
            item_key=row.item_key,
            subject=row.subject or "",
            target_kind=row.target_kind,
            target_key=row.target_key or "",
            origin=row.origin,
            actor=row.actor,
            reason=row.evidence,
            created_at=row.created_at,
        )


def _export_statement() -> Select[Any]:
    first_email = (
        select(ContactEmail.email)
        .where(ContactEmail.contact_id == Link.target_id)
        .order_by(ContactEmail.position, ContactEmail.id)
        .limit(1)
        .scalar_subquery()
    )
    account_name = select(Account.name).where(Account.id == Link.target_id).scalar_subquery()
    opportunity_code = (
        select(Opportunity.code).where(Opportunity.id == Link.target_id).scalar_subquery()
    )
    key = case(
        (Link.target_kind == TargetKind.ACCOUNT.value, account_name),
        (Link.target_kind == TargetKind.CONTACT.value, first_email),
        (Link.target_kind == TargetKind.OPPORTUNITY.value, opportunity_code),
        else_=None,
    ).label("target_key")
    common = (
        Link.id,
        Link.item_kind,
        Link.target_kind,
        key,
        Link.origin,
        Link.actor,
        Link.evidence,
        Link.created_at,
    )
    messages = select(
        *common, Message.message_key.label("item_key"), Message.subject.label("subject")
    ).join(Message, (Link.item_kind == ItemKind.MESSAGE.value) & (Link.item_id == Message.id))
    meetings = select(
        *common, Meeting.uid.label("item_key"), Meeting.subject.label("subject")
    ).join(Meeting, (Link.item_kind == ItemKind.MEETING.value) & (Link.item_id == Meeting.id))
    union = union_all(messages, meetings).subquery()
    return select(union).order_by(union.c.id)


# --------------------------------------------------------------------------- helpers


def _pair_filter(
    model: type[Link] | type[Suppression] | type[LinkSuggestion],
    item_kind: ItemKind,
    item_id: int,
    target_kind: TargetKind,
    target_id: int,
) -> tuple[ColumnElement[bool], ...]:
    return (
        model.item_kind == item_kind.value,
        model.item_id == item_id,
        model.target_kind == target_kind.value,
        model.target_id == target_id,
    )


_ITEM_MODELS = {ItemKind.MESSAGE: Message, ItemKind.MEETING: Meeting}
_TARGET_MODELS = {
    TargetKind.ACCOUNT: Account,
    TargetKind.CONTACT: Contact,
    TargetKind.OPPORTUNITY: Opportunity,
}


def _require_exists(
    session: Session,
    item_kind: ItemKind,
    item_id: int,
    target_kind: TargetKind,
    target_id: int,
) -> None:
    """Links are polymorphic (no foreign key), so existence is checked here."""
    item_model = _ITEM_MODELS[ItemKind(item_kind)]
    target_model = _TARGET_MODELS[TargetKind(target_kind)]
    if session.get(item_model, item_id) is None:
        raise UnknownRecord(f"no {item_kind.value} with id {item_id}")
    if session.get(target_model, target_id) is None:
        raise UnknownRecord(f"no {target_kind.value} with id {target_id}")


def _stored(row: Row[Any]) -> StoredLink:
    get = row._mapping
    return StoredLink(
        id=int(get["id"]),
        item_kind=ItemKind(get["item_kind"]),
        item_id=int(get["item_id"]),
        target_kind=TargetKind(get["target_kind"]),
        target_id=int(get["target_id"]),
        origin_kind=OriginKind(get["origin_kind"]),
        origin=get["origin"],
        actor=get["actor"],
        evidence=get["evidence"],
        created_at=get["created_at"],
    )
