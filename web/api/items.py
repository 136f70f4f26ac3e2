"""An item's links: read them, link, unlink, and track an item from Outlook.

Items are named by the ids the add-in has (internetMessageId, iCalendar UID,
Exchange item id). When the daemon has not stored the item yet, the add-in
sends a snapshot of it and the item is stored on the spot through the sync
path's own write, so the daemon's later copy merges into the same row. A
meeting named only by its Exchange item id is also looked for by its natural
identity (``web.meeting_match``), so a meeting the daemon stored first gets
the link rather than a second row. The pane names such a meeting by its item
id plus its identity (organizer, start, end, subject) when it reads, links or
unlinks, so the daemon's row answers before the pane has stored anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.items import ItemKind, LinkSpec, MeetingItem, TargetKind
from crm_store.links import StoredLink, link_by_person, links_for_item, unlink_by_person
from crm_store.models import LinkSuggestion
from rules import Linked
from web.access import can_access_item, is_participant, require_item_access
from web.api.validation import build
from web.auth.principal import Principal
from web.deps import CurrentUser, DbSession, Rules, WriteSession, WritingUser
from web.errors import InvalidInput, NotFound
from web.item_store import ItemRef, find_item, mailbox_for, selector_of, store_item, to_item
from web.meeting_match import named_meeting, onto_stored_meeting, same_meeting
from web.records import require_target, target_names
from web.rules_context import RulesContext
from web.schemas.common import ItemRefPublic, LinkPublic
from web.schemas.items import (
    MAX_SUBJECT_CHARS,
    ItemLinks,
    ItemSelector,
    ItemSnapshot,
    LinkCreate,
    LinkResult,
    TrackedLink,
    TrackResult,
    UnlinkResult,
)
from web.schemas.lookup import SuggestedLink

router = APIRouter(prefix="/items", tags=["items"])

MAX_ID = 2**63 - 1
NOT_STORED = "{what} is not stored yet; send its snapshot to store and link it"


def _selector(
    internet_message_id: str | None,
    i_cal_uid: str | None,
    recurrence_id: str | None,
    item_id: str | None,
    identity: MeetingIdentityQuery,
) -> ItemSelector:
    return build(
        ItemSelector,
        "query",
        {
            "internetMessageId": internet_message_id,
            "iCalUId": i_cal_uid,
            "recurrenceId": recurrence_id,
            "itemId": item_id,
            **identity.values(),
        },
    )


def _find(session: Session, selector: ItemSelector, user: Principal) -> ItemRef | None:
    """The item by its id; failing that, a meeting by the identity sent with the id."""
    found = find_item(session, selector, user)
    if found is None and selector.has_identity:
        found = named_meeting(session, user, selector)
    return found


InternetMessageId = Annotated[
    str | None, Query(alias="internetMessageId", max_length=998, description="Message-ID header")
]
ICalUid = Annotated[
    str | None, Query(alias="iCalUId", max_length=998, description="iCalendar UID of a meeting")
]
RecurrenceId = Annotated[
    str | None, Query(alias="recurrenceId", max_length=64, description="occurrence of a series")
]
ExchangeItemId = Annotated[
    str | None, Query(alias="itemId", max_length=998, description="Exchange/Graph item id")
]
IDENTITY_NOTE = (
    "; with itemId, one of a meeting's identity (organizer, start, end, subject: all four),"
    " which finds a meeting only the daemon stored when the item id names nothing"
)


class MeetingIdentityQuery:
    """The optional identity query parameters, collected once for GET and DELETE."""

    def __init__(
        self,
        organizer: Annotated[
            str | None,
            Query(max_length=320, description="the meeting organizer's address" + IDENTITY_NOTE),
        ] = None,
        start: Annotated[
            datetime | None,
            Query(description="the meeting's start, ISO 8601 with a zone" + IDENTITY_NOTE),
        ] = None,
        end: Annotated[
            datetime | None,
            Query(description="the meeting's end, ISO 8601 with a zone" + IDENTITY_NOTE),
        ] = None,
        subject: Annotated[
            str | None,
            Query(
                max_length=MAX_SUBJECT_CHARS, description="the meeting's subject" + IDENTITY_NOTE
            ),
        ] = None,
    ) -> None:
        self.organizer = organizer
        self.start = start
        self.end = end
        self.subject = subject

    def values(self) -> dict[str, object]:
        return {
            "organizer": self.organizer,
            "start": self.start,
            "end": self.end,
            "subject": self.subject,
        }


MeetingIdentityParams = Annotated[MeetingIdentityQuery, Depends()]


@router.get(
    "/links",
    response_model=ItemLinks,
    summary="The links of a stored item",
    description=(
        "Name the item by exactly one id. A meeting named by `itemId` may add its identity"
        " (`organizer`, `start`, `end`, `subject`, all four, as Office.js reads them): when"
        " the id names nothing, the one stored meeting with that identity the caller may work"
        " on answers (404 when there is none, when more than one UID-keyed meeting carries"
        " it, and when it is only in reach of others: the same answer as an unknown item)."
    ),
)
def item_links(
    session: DbSession,
    user: CurrentUser,
    identity: MeetingIdentityParams,
    internet_message_id: InternetMessageId = None,
    i_cal_uid: ICalUid = None,
    recurrence_id: RecurrenceId = None,
    item_id: ExchangeItemId = None,
) -> ItemLinks:
    selector = _selector(internet_message_id, i_cal_uid, recurrence_id, item_id, identity)
    ref = _find(session, selector, user)
    if ref is None:
        raise NotFound(NOT_STORED.format(what="this item"))
    require_item_access(session, user, ref)
    links = links_for_item(session, ref.kind, ref.id)
    pending = list(
        session.execute(
            select(LinkSuggestion.target_kind, LinkSuggestion.target_id, LinkSuggestion.reason)
            .where(
                LinkSuggestion.item_kind == ref.kind.value,
                LinkSuggestion.item_id == ref.id,
                LinkSuggestion.status == "pending",
            )
            .order_by(LinkSuggestion.id)
        )
    )
    names = target_names(
        session,
        [(link.target_kind, link.target_id) for link in links]
        + [(TargetKind(kind), int(ident)) for kind, ident, _ in pending],
    )
    return ItemLinks(
        item=_ref_public(ref),
        links=[_link_public(link, names) for link in links],
        suggestions=[
            SuggestedLink(
                target_kind=TargetKind(kind),
                target_id=int(ident),
                target_name=names.get((TargetKind(kind), int(ident)), ""),
                reason=reason,
                certain=False,
            )
            for kind, ident, reason in pending
        ],
    )


@router.post(
    "/links",
    response_model=LinkResult,
    status_code=status.HTTP_201_CREATED,
    summary="Link an item to a record (storing the item first when a snapshot is sent)",
)
def create_link(
    body: LinkCreate, session: WriteSession, user: WritingUser, rules: Rules
) -> LinkResult:
    require_target(session, body.target.kind, body.target.id)
    ref = _find(session, body.item, user)
    if ref is None and body.snapshot is not None:
        ref = same_meeting(session, user, body.snapshot)
    stored_now = False
    if body.snapshot is not None:
        stored = _store_snapshot(session, user, rules, body.snapshot, ref)
        if ref is not None and (ref.kind, ref.id) != (stored.kind, stored.id):
            raise InvalidInput("snapshot", "describes another item than `item` names")
        stored_now = ref is None
        ref = stored
    if ref is None:
        raise NotFound(NOT_STORED.format(what="this item"))
    require_item_access(session, user, ref)
    link = link_by_person(
        session,
        ref.kind,
        ref.id,
        body.target.kind,
        body.target.id,
        actor=user.email,
        evidence=body.note or f"linked by {user.email} in Outlook",
    )
    names = target_names(session, [(link.target_kind, link.target_id)])
    return LinkResult(item=_ref_public(ref), link=_link_public(link, names), stored_now=stored_now)


@router.delete(
    "/links",
    response_model=UnlinkResult,
    summary="Remove a link; the rules will never add it back (a suppression is recorded)",
)
def delete_link(
    session: WriteSession,
    user: WritingUser,
    target_kind: Annotated[TargetKind, Query(alias="targetKind")],
    target_id: Annotated[int, Query(alias="targetId", ge=1, le=MAX_ID)],
    identity: MeetingIdentityParams,
    internet_message_id: InternetMessageId = None,
    i_cal_uid: ICalUid = None,
    recurrence_id: RecurrenceId = None,
    item_id: ExchangeItemId = None,
) -> UnlinkResult:
    selector = _selector(internet_message_id, i_cal_uid, recurrence_id, item_id, identity)
    require_target(session, target_kind, target_id)
    ref = _find(session, selector, user)
    if ref is None:
        raise NotFound(NOT_STORED.format(what="this item"))
    require_item_access(session, user, ref)
    removed = unlink_by_person(session, ref.kind, ref.id, target_kind, target_id, actor=user.email)
    return UnlinkResult(item=_ref_public(ref), removed=removed, suppressed=True)


@router.post(
    "/track",
    response_model=TrackResult,
    summary="Track the open Outlook item: store it and link it by the rules' best match",
)
def track(
    body: ItemSnapshot, session: WriteSession, user: WritingUser, rules: Rules
) -> TrackResult:
    item = to_item(body)
    if body.mode == "compose":
        # Not sent yet: nothing to store. The draft carries X-Mailsync-Track, so the
        # daemon links the sent copy; answer with what the rules will link then.
        result, _ = rules.run(session, item, mailbox_owner=user.email)
        links = result.links if isinstance(result, Linked) else ()
        names = target_names(session, [(s.target_kind, s.target_id) for s in links])
        return TrackResult(stored=False, item=None, links=[_tracked(s, names) for s in links])
    existing = find_item(session, selector_of(body), user) or same_meeting(session, user, body)
    ref = _store_snapshot(session, user, rules, body, existing)
    require_item_access(session, user, ref)
    stored = links_for_item(session, ref.kind, ref.id)
    names = target_names(session, [(link.target_kind, link.target_id) for link in stored])
    return TrackResult(
        stored=True,
        item=_ref_public(ref),
        links=[_tracked(link.as_spec(), names) for link in stored],
    )


def _store_snapshot(
    session: Session,
    user: Principal,
    rules: RulesContext,
    snapshot: ItemSnapshot,
    existing: ItemRef | None,
) -> ItemRef:
    """Store the add-in's item (with the rules' links) in the user's own mailbox.

    An item already stored from someone else's mailbox gets the user's copy
    only when the stored item names the user as a participant: the stored
    data, not the snapshot's claims, decide whether it is really theirs.
    """
    if snapshot.mode == "compose":
        raise InvalidInput("snapshot.mode", "a draft cannot be stored; save or send it first")
    mailbox = mailbox_for(session, user, snapshot.mailbox)
    if (
        existing is not None
        and not can_access_item(session, user, existing)
        and not is_participant(session, existing, mailbox.address)
    ):
        require_item_access(session, user, existing)
    item = to_item(snapshot)
    if (
        isinstance(item, MeetingItem)
        and existing is not None
        and existing.kind is ItemKind.MEETING
        and not snapshot.i_cal_uid
    ):
        # Named by its Exchange item id only: the copy goes on the row found.
        item = onto_stored_meeting(session, item, existing.id)
    result, _ = rules.run(session, item, mailbox_owner=user.email)
    links: tuple[LinkSpec, ...] = result.links if isinstance(result, Linked) else ()
    return store_item(session, mailbox, item, links)


def _ref_public(ref: ItemRef) -> ItemRefPublic:
    return ItemRefPublic(kind=ref.kind, id=ref.id, subject=ref.subject)


def _link_public(link: StoredLink, names: dict[tuple[TargetKind, int], str]) -> LinkPublic:
    return LinkPublic(
        target_kind=link.target_kind,
        target_id=link.target_id,
        target_name=names.get((link.target_kind, link.target_id), ""),
        origin_kind=link.origin_kind,
        origin=link.origin,
        actor=link.actor,
        reason=link.evidence,
        created_at=link.created_at,
    )


def _tracked(spec: LinkSpec, names: dict[tuple[TargetKind, int], str]) -> TrackedLink:
    return TrackedLink(
        target_type=spec.target_kind,
        target_id=spec.target_id,
        target_name=names.get((spec.target_kind, spec.target_id), ""),
        reason=spec.evidence,
    )
