"""THE access policy: who may see or change which stored correspondence, in one place.

Both the manager pages (and their exports) and the add-in API ask here; no
other module decides who may see an item.

Reach: an admin reaches everyone; a manager themselves and their direct
reports; a salesperson themselves. An item is *in reach* when it sits in a
mailbox owned by someone in reach, or is linked to a record someone in reach
owns (their account, a contact at their account, their opportunity).

- pages and exports (``visible_items``: timelines, dashboard, search, the
  suggestion queue, CSV and iCalendar): items in reach (admin: all);
  private items never, for anyone;
- the add-in API (``may_work_on_item``: an item's links, link, unlink,
  track): items in reach (admin: all); a private item only in the caller's
  own mailbox.

Private items are never stored by the sync path, but an add-in upload or an
older store might hold one, so the read side filters them again; the pages
never show them. In the add-in the owner is looking at that item in their own
Outlook already, so the API lets them (and only them) work on it.

Everything here builds SQL expressions, never loads rows: callers put the
predicate into their own statements, so visibility costs a few indexed
EXISTS sub-queries instead of a second pass in Python.

Building those expressions is not free: each fresh alias makes SQLAlchemy
proxy every column of its table, some 30 ms for one ``visible_items`` and a
dashboard needs ten. The parts that depend only on the viewer are therefore
built once per viewer and reused (expressions are immutable; a ``Viewer`` is
a value, so a changed role is a different key).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import QueryableAttribute, Session, aliased

from crm_store.items import ItemKind, Sensitivity, TargetKind
from crm_store.models import (
    Account,
    Contact,
    Link,
    Mailbox,
    Meeting,
    MeetingCopy,
    Message,
    MessageCopy,
    Opportunity,
    User,
)

ROLES = ("salesperson", "manager", "admin")
CACHED_VIEWERS = 512
"""Viewers whose predicates are kept built (per kind of item): the active users of a team."""

Column = ColumnElement[Any] | QueryableAttribute[Any]
"""A column of a model or of an alias, as the predicates below accept it."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person a page or export is for; ``everyone()`` is the operator's CLI view."""

    user_id: int | None
    email: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")
        if self.user_id is None and self.role != "admin":
            raise ValueError("only the admin view may have no user")

    @classmethod
    def everyone(cls) -> Viewer:
        return cls(None, "", "admin")

    @property
    def sees_everything(self) -> bool:
        return self.role == "admin"


def reach_user_ids(viewer: Viewer) -> ColumnElement[bool]:
    """Predicate on ``User``: the people whose correspondence the viewer may see."""
    return _reach(User, viewer)


def _reach(user: Any, viewer: Viewer) -> ColumnElement[bool]:
    if viewer.sees_everything:
        return true()
    if viewer.role == "manager":
        return or_(user.id == viewer.user_id, user.manager_id == viewer.user_id)
    return user.id == viewer.user_id  # type: ignore[no-any-return]


# Every sub-query below reads fresh aliases: a caller's statement may already
# have Mailbox, Link or Opportunity in its FROM list, and SQLAlchemy would
# otherwise correlate the sub-query to them, silently changing its meaning.


@lru_cache(maxsize=CACHED_VIEWERS)
def _reach_ids(viewer: Viewer) -> Any:
    user = aliased(User)
    return select(user.id).where(_reach(user, viewer))


def owner_in_reach(owner_column: Column, viewer: Viewer) -> ColumnElement[bool]:
    """Whether a record's owner column names someone in the viewer's reach."""
    if viewer.sees_everything:
        return true()
    return owner_column.in_(_reach_ids(viewer))


@dataclass(frozen=True, slots=True)
class _OwnedRecords:
    """Sub-queries of the ids of the accounts, opportunities and contacts owned in reach."""

    accounts: Any
    opportunities: Any
    contacts: Any


@lru_cache(maxsize=CACHED_VIEWERS)
def _owned_records(viewer: Viewer) -> _OwnedRecords:
    account = aliased(Account)
    opportunity = aliased(Opportunity)
    contact = aliased(Contact)
    contact_account = aliased(Account)
    return _OwnedRecords(
        accounts=select(account.id).where(owner_in_reach(account.owner_id, viewer)),
        opportunities=select(opportunity.id).where(owner_in_reach(opportunity.owner_id, viewer)),
        contacts=select(contact.id)
        .join(contact_account, contact_account.id == contact.account_id)
        .where(owner_in_reach(contact_account.owner_id, viewer)),
    )


def target_in_reach(target_kind: Column, target_id: Column, viewer: Viewer) -> ColumnElement[bool]:
    """Whether a (kind, id) record reference points at a record someone in reach owns."""
    if viewer.sees_everything:
        return true()
    owned = _owned_records(viewer)
    return or_(
        and_(target_kind == TargetKind.ACCOUNT.value, target_id.in_(owned.accounts)),
        and_(target_kind == TargetKind.OPPORTUNITY.value, target_id.in_(owned.opportunities)),
        and_(target_kind == TargetKind.CONTACT.value, target_id.in_(owned.contacts)),
    )


def _item_columns(kind: ItemKind) -> tuple[Column, Column]:
    if kind is ItemKind.MESSAGE:
        return Message.id, Message.sensitivity
    return Meeting.id, Meeting.sensitivity


@lru_cache(maxsize=2 * CACHED_VIEWERS)
def in_reach_mailbox(kind: ItemKind, viewer: Viewer) -> ColumnElement[bool]:
    """The item has a copy in a mailbox owned by someone in the viewer's reach."""
    item_id, _ = _item_columns(kind)
    mailbox = aliased(Mailbox)
    user = aliased(User)
    people = select(user.id, user.email).where(_reach(user, viewer)).subquery()
    mailbox_of_reach = or_(
        mailbox.owner_id.in_(select(people.c.id)),
        mailbox.address.in_(select(people.c.email)),
    )
    if kind is ItemKind.MESSAGE:
        message_copy = aliased(MessageCopy)
        copies = (
            select(message_copy.message_id)
            .join(mailbox, mailbox.id == message_copy.mailbox_id)
            .where(mailbox_of_reach)
        )
    else:
        meeting_copy = aliased(MeetingCopy)
        copies = (
            select(meeting_copy.meeting_id)
            .join(mailbox, mailbox.id == meeting_copy.mailbox_id)
            .where(mailbox_of_reach)
        )
    return item_id.in_(copies)


@lru_cache(maxsize=2 * CACHED_VIEWERS)
def item_in_reach(kind: ItemKind, viewer: Viewer) -> ColumnElement[bool]:
    """The reach rule, as a predicate on ``Message`` (or ``Meeting``) rows; privacy aside."""
    if viewer.sees_everything:
        return true()
    item_id, _ = _item_columns(kind)
    owned_link = aliased(Link)
    linked_to_owned = item_id.in_(
        select(owned_link.item_id).where(
            owned_link.item_kind == kind.value,
            target_in_reach(owned_link.target_kind, owned_link.target_id, viewer),
        )
    )
    return or_(in_reach_mailbox(kind, viewer), linked_to_owned)


@lru_cache(maxsize=4 * CACHED_VIEWERS)
def visible_items(
    kind: ItemKind, viewer: Viewer, *, linked_only: bool = True
) -> ColumnElement[bool]:
    """What pages and exports show, as a predicate on ``Message`` (or ``Meeting``) rows.

    ``linked_only`` keeps the manager pages to CRM correspondence: an item
    the rules stored only as metadata for retroactive matching has no place
    on a timeline. The suggestion queue turns it off, because an item whose
    link is waiting for a person's decision is not linked yet.
    """
    item_id, sensitivity = _item_columns(kind)
    conditions: list[ColumnElement[bool]] = [sensitivity != Sensitivity.PRIVATE.value]
    if linked_only:
        any_link = aliased(Link)
        conditions.append(
            item_id.in_(select(any_link.item_id).where(any_link.item_kind == kind.value))
        )
    if not viewer.sees_everything:
        conditions.append(item_in_reach(kind, viewer))
    return and_(*conditions)


@lru_cache(maxsize=2 * CACHED_VIEWERS)
def _workable_items(kind: ItemKind, viewer: Viewer) -> ColumnElement[bool]:
    _, sensitivity = _item_columns(kind)
    if viewer.user_id is None:
        own_private: ColumnElement[bool] = false()
    else:
        own_private = in_reach_mailbox(kind, Viewer(viewer.user_id, viewer.email, "salesperson"))
    return and_(
        item_in_reach(kind, viewer),
        or_(sensitivity != Sensitivity.PRIVATE.value, own_private),
    )


def may_work_on_item(session: Session, viewer: Viewer, kind: ItemKind, item_id: int) -> bool:
    """Whether the add-in API lets ``viewer`` read or change this stored item's links."""
    column, _ = _item_columns(kind)
    return (
        session.execute(
            select(column).where(column == item_id, _workable_items(kind, viewer)).limit(1)
        ).first()
        is not None
    )
