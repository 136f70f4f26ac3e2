"""The sync path's writes: one page of provider changes into the store, set-based.

``apply_page`` writes a page's messages and meetings (stored once, one copy row
per mailbox), their participants, links, suggestions, failures, exclusion
counters, removals and the folder's new cursor. Every table gets one batched
``INSERT … ON CONFLICT`` (or one UPDATE) per page, never a loop of single-row
statements, and the caller owns the transaction: committing the page together
with its cursor is what makes a killed daemon converge (invariant 1).

Idempotence: applying the same page twice leaves the same rows (timestamps
aside). The exclusion counters and the failure ledger's ``attempts`` count
deliveries, so a replayed page (only after a full resync) counts again.

Full resync after an expired cursor (410 / syncStateNotFound)
------------------------------------------------------------
A delta round from scratch re-delivers every item still in the folder but says
nothing about items that vanished while the cursor was dead. So:

1. ``reset_folder`` clears the folder's cursor, bumps its ``epoch`` and sets
   ``resyncing``; commit it with the decision to resync.
2. Every copy a page writes is stamped ``seen_epoch = <folder's epoch>``; the
   resync's pages re-apply idempotently and stamp what they see.
3. The page that completes the round (``cursor_complete=True``) runs
   ``finish_resync``: copies in the folder still stamped with an older epoch
   were not seen, so they are marked removed, and ``resyncing`` is cleared.

A crash mid-resync resumes from the last committed nextLink with the same
epoch; a second ``reset_folder`` just starts a newer generation. Both converge.

A meeting the Outlook add-in stored before the daemon saw it is keyed by its
Exchange item id, not its UID; the page's meetings fold such rows into their
own by natural identity (``crm_store.meeting_merge``), so a meeting is one row
whoever stored it first. Likewise a message the add-in stored at send, before
it had a Message-ID, folds into the row of the page's copy of it
(``crm_store.message_merge``).

Removals match the copy by provider item id *and folder*: with immutable ids a
move shows up as an add in the new folder and a removal in the old one, in
either order, and a stale removal must not hide the copy that already moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from crm_store.items import (
    ItemKind,
    LinkSpec,
    MeetingItem,
    MessageItem,
    OriginKind,
    Removal,
    Sensitivity,
    TargetKind,
)
from crm_store.meeting_merge import merge_pane_meetings
from crm_store.message_merge import merge_sent_messages
from crm_store.models import (
    ExclusionCount,
    Link,
    LinkSuggestion,
    Meeting,
    MeetingAttendee,
    MeetingCopy,
    Message,
    MessageCopy,
    MessageParticipant,
    ProcessedItem,
    Suppression,
    SyncCursor,
)
from crm_store.upsert import chunks, execute_many, insert_for, table_of

ATTENDEE_PAIRS_PER_DELETE = 4_000
"""(meeting, address) pairs bound in one attendee clean-up (two parameters each)."""


class ItemFailureRecord(NamedTuple):
    """An item the driver could not read, for the processed-items ledger (invariant 6)."""

    item_key: str
    folder: str
    error: str


class SuggestionLike(Protocol):
    """What a suggestion needs to carry (``rules.results.Suggestion`` fits)."""

    @property
    def target_kind(self) -> TargetKind: ...

    @property
    def target_id(self) -> int: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PageWrite:
    """Everything one provider page changes, ready to be written in one transaction.

    ``links`` and ``suggestions`` are keyed by item key (``message_key`` or
    ``meeting_key``) of items in this page. ``tracked_keys`` are the items whose
    bodies may be kept; the rest are stored as metadata only (body NULL,
    tracked False) for retroactive matching. ``bodyless_keys`` are tracked items
    a rule asked to store without body. ``failures`` are ``(item_key, folder,
    error)`` for the processed-items ledger; ``exclusions`` add to the per-mailbox
    counters. ``cursor`` (when not None) is written to sync_cursors with
    ``cursor_complete`` (True for a deltaLink that ends a round).

    ``body_pending_keys`` are messages whose body was wanted (to keep, or to
    link on) but could not be fetched before this page's transaction: they
    are flagged ``body_pending`` and the mailbox's next run fetches and
    relinks them. ``body_read_keys`` are messages whose body this page did
    read; a pending flag left by an earlier page is cleared for them.
    """

    folder: str
    messages: Sequence[MessageItem] = ()
    meetings: Sequence[MeetingItem] = ()
    removals: Sequence[Removal] = ()
    links: Mapping[str, Sequence[LinkSpec]] = field(default_factory=dict)
    suggestions: Mapping[str, Sequence[SuggestionLike]] = field(default_factory=dict)
    tracked_keys: Set[str] = frozenset()
    bodyless_keys: Set[str] = frozenset()
    failures: Sequence[tuple[str, str, str]] = ()
    exclusions: Mapping[str, int] = field(default_factory=dict)
    cursor: str | None = None
    cursor_complete: bool = False
    body_pending_keys: Set[str] = frozenset()
    body_read_keys: Set[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PageWriteResult:
    """Ids of the stored items (by key) and what the page changed, for logs and tests."""

    message_ids: dict[str, int]
    meeting_ids: dict[str, int]
    links_written: int
    links_suppressed: int
    suggestions_written: int
    copies_removed: int
    resync_removed: int
    meetings_merged: int = 0
    messages_merged: int = 0


class InvalidPage(ValueError):
    """The page breaks a rule the store enforces; nothing of it was written."""


# --------------------------------------------------------------------------- public API


def apply_page(session: Session, mailbox_id: int, page: PageWrite) -> PageWriteResult:
    """Write one page; the caller commits it (with nothing else half-done) or rolls back."""
    _validate(page)
    epoch, resyncing = _folder_state(session, mailbox_id, page.folder)

    message_ids = _upsert_messages(session, page)
    _clear_read_pending(session, page, message_ids)
    _upsert_participants(session, page.messages, message_ids)
    _upsert_copies(
        session, MessageCopy, "message_id", mailbox_id, epoch, page.messages, message_ids
    )
    # Before the links, like the meetings' merge below.
    messages_merged = merge_sent_messages(session, mailbox_id, page.messages, message_ids)

    meeting_ids = _upsert_meetings(session, page)
    # Before the links: a removal the add-in's row carried must hold for this page too.
    meetings_merged = merge_pane_meetings(session, mailbox_id, page.meetings, meeting_ids)
    _replace_attendees(session, page.meetings, meeting_ids)
    _upsert_copies(
        session, MeetingCopy, "meeting_id", mailbox_id, epoch, page.meetings, meeting_ids
    )

    item_refs = _item_refs(message_ids, meeting_ids)
    suppressed = _suppressed_pairs(session, message_ids.values(), meeting_ids.values())
    links_written, links_suppressed = _upsert_links(session, page.links, item_refs, suppressed)
    suggestions_written = _insert_suggestions(session, page.suggestions, item_refs, suppressed)

    _record_failures(session, mailbox_id, page.failures)
    _add_exclusions(session, mailbox_id, page.exclusions)
    copies_removed = apply_removals(session, mailbox_id, page.removals)

    resync_removed = 0
    if page.cursor is not None:
        _write_cursor(session, mailbox_id, page.folder, page.cursor, page.cursor_complete)
        if page.cursor_complete and resyncing:
            resync_removed = finish_resync(session, mailbox_id, page.folder)

    return PageWriteResult(
        message_ids=message_ids,
        meeting_ids=meeting_ids,
        links_written=links_written,
        links_suppressed=links_suppressed,
        suggestions_written=suggestions_written,
        copies_removed=copies_removed,
        resync_removed=resync_removed,
        meetings_merged=meetings_merged,
        messages_merged=messages_merged,
    )


def apply_removals(session: Session, mailbox_id: int, removals: Sequence[Removal]) -> int:
    """Mark the mailbox's copies removed; unknown ids and repeats are no-ops.

    A removal with an empty folder matches the copy wherever it is.
    """
    grouped: dict[tuple[ItemKind, str], list[str]] = {}
    for removal in removals:
        grouped.setdefault((removal.kind, removal.folder), []).append(removal.provider_item_id)
    changed = 0
    for (kind, folder), ids in grouped.items():
        copy = MessageCopy if kind is ItemKind.MESSAGE else MeetingCopy
        for chunk in chunks(sorted(set(ids))):
            conditions = [
                copy.mailbox_id == mailbox_id,
                copy.provider_item_id.in_(chunk),
                copy.removed.is_(False),
            ]
            if folder:
                conditions.append(copy.folder == folder)
            result = session.execute(
                update(copy).where(*conditions).values(removed=True, updated_at=func.now()),
                execution_options={"synchronize_session": False},
            )
            changed += _rowcount(result)
    return changed


def reset_folder(session: Session, mailbox_id: int, folder: str) -> int:
    """Start a full resync of ``folder``: clear its cursor and open a new generation.

    Returns the new epoch. See the module docstring for the whole protocol.
    """
    table = table_of(SyncCursor)
    statement = insert_for(session, table).values(
        mailbox_id=mailbox_id, folder=folder, cursor=None, complete=False, epoch=1, resyncing=True
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.mailbox_id, table.c.folder],
        set_={
            "cursor": None,
            "complete": False,
            "epoch": table.c.epoch + 1,
            "resyncing": True,
            "updated_at": func.now(),
        },
    ).returning(table.c.epoch)
    return int(session.execute(upsert).scalar_one())


def finish_resync(session: Session, mailbox_id: int, folder: str) -> int:
    """Mark removed the folder's copies the resync did not see; returns how many.

    ``apply_page`` calls this on the page that completes a resync round; it is
    public for callers that end a round without a page. Idempotent.
    """
    epoch, resyncing = _folder_state(session, mailbox_id, folder)
    removed = 0
    if resyncing:
        for copy in (MessageCopy, MeetingCopy):
            result = session.execute(
                update(copy)
                .where(
                    copy.mailbox_id == mailbox_id,
                    copy.folder == folder,
                    copy.seen_epoch < epoch,
                    copy.removed.is_(False),
                )
                .values(removed=True, updated_at=func.now()),
                execution_options={"synchronize_session": False},
            )
            removed += _rowcount(result)
    session.execute(
        update(SyncCursor)
        .where(SyncCursor.mailbox_id == mailbox_id, SyncCursor.folder == folder)
        .values(resyncing=False),
        execution_options={"synchronize_session": False},
    )
    return removed


# --------------------------------------------------------------------------- validation


def _validate(page: PageWrite) -> None:
    problems: list[str] = []
    message_keys = {item.message_key for item in page.messages}
    meeting_keys = {item.meeting_key for item in page.meetings}
    items: list[MessageItem | MeetingItem] = [*page.messages, *page.meetings]
    for item in items:
        if item.sensitivity is Sensitivity.PRIVATE:
            problems.append(
                f"{item.kind.value} {item.provider_item_id!r} is private: "
                "exclude it before apply_page (invariant 4)"
            )
        if item.folder != page.folder:
            problems.append(
                f"{item.kind.value} {item.provider_item_id!r} is in folder {item.folder!r} "
                f"but the page is for {page.folder!r}"
            )
    both = message_keys & meeting_keys
    if both:
        problems.append(f"keys used by a message and a meeting alike: {sorted(both)[:5]}")
    known = message_keys | meeting_keys
    for name, mapping in (("links", page.links), ("suggestions", page.suggestions)):
        unknown = set(mapping) - known
        if unknown:
            problems.append(f"{name} for items not in the page: {sorted(unknown)[:5]}")
    for key, specs in page.links.items():
        for spec in specs:
            if spec.origin_kind is OriginKind.PERSON:
                problems.append(
                    f"person link on {key!r} in a sync page: people link through "
                    "crm_store.links.link_by_person"
                )
    if problems:
        raise InvalidPage("page not written: " + "; ".join(problems))


# --------------------------------------------------------------------------- items


def _folder_state(session: Session, mailbox_id: int, folder: str) -> tuple[int, bool]:
    row = session.execute(
        select(SyncCursor.epoch, SyncCursor.resyncing).where(
            SyncCursor.mailbox_id == mailbox_id, SyncCursor.folder == folder
        )
    ).one_or_none()
    return (0, False) if row is None else (int(row.epoch), bool(row.resyncing))


def _message_row(item: MessageItem, page: PageWrite) -> dict[str, Any]:
    key = item.message_key
    tracked = key in page.tracked_keys
    keep_body = tracked and key not in page.bodyless_keys
    return {
        "message_key": key,
        "internet_message_id": item.internet_message_id,
        "conversation_id": item.conversation_id,
        "in_reply_to": item.in_reply_to,
        "references": list(item.references),
        "subject": item.subject,
        "sent_at": item.sent_at,
        "direction": item.direction.value,
        "sensitivity": item.sensitivity.value,
        "sender_address": item.sender.address if item.sender else None,
        "body_text": item.body_text if keep_body else None,
        "body_html": item.body_html if keep_body else None,
        "has_attachments": item.has_attachments or bool(item.attachments),
        "attachments": [
            {
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "is_inline": a.is_inline,
            }
            for a in item.attachments
        ],
        "tracked": tracked,
        "store_body": key not in page.bodyless_keys,
        "body_pending": key in page.body_pending_keys,
    }


def _merge_duplicate(rows: dict[str, dict[str, Any]], key: str, row: dict[str, Any]) -> None:
    """Two copies of one item in one page: keep one row, never losing a body or tracking.

    PostgreSQL refuses an upsert that touches the same row twice, so rows are
    merged the way the ON CONFLICT clause would merge them.
    """
    old = rows.get(key)
    if old is None:
        rows[key] = row
        return
    merged = dict(row)
    merged["tracked"] = old["tracked"] or row["tracked"]
    merged["body_pending"] = old["body_pending"] or row["body_pending"]
    for column in ("body_text", "body_html"):
        if column in row and merged[column] is None:
            merged[column] = old[column]
    rows[key] = merged


def _upsert_messages(session: Session, page: PageWrite) -> dict[str, int]:
    rows: dict[str, dict[str, Any]] = {}
    for item in page.messages:
        _merge_duplicate(rows, item.message_key, _message_row(item, page))
    if not rows:
        return {}
    table = table_of(Message)
    statement = insert_for(session, table)
    new = statement.excluded
    keep_body = and_(table.c.store_body, new.store_body)
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.message_key],
        set_={
            "internet_message_id": new.internet_message_id,
            "conversation_id": func.coalesce(new.conversation_id, table.c.conversation_id),
            "in_reply_to": func.coalesce(new.in_reply_to, table.c.in_reply_to),
            "references": new.references,
            "subject": new.subject,
            "sent_at": func.coalesce(new.sent_at, table.c.sent_at),
            "direction": new.direction,
            "sensitivity": new.sensitivity,
            "sender_address": func.coalesce(new.sender_address, table.c.sender_address),
            # A later, untracked copy (another mailbox) never blanks a stored body;
            # a rule's "store without body" does, and sticks.
            "body_text": case(
                (keep_body, func.coalesce(new.body_text, table.c.body_text)), else_=None
            ),
            "body_html": case(
                (keep_body, func.coalesce(new.body_html, table.c.body_html)), else_=None
            ),
            "has_attachments": new.has_attachments,
            "attachments": new.attachments,
            "tracked": or_(table.c.tracked, new.tracked),
            "store_body": keep_body,
            # Pending stays pending until a page or the pending-bodies fetch reads it.
            "body_pending": or_(table.c.body_pending, new.body_pending),
            "updated_at": func.now(),
        },
    ).returning(table.c.message_key, table.c.id)
    returned = execute_many(session, upsert, list(rows.values()))
    return {key: int(ident) for key, ident in returned}


def _clear_read_pending(session: Session, page: PageWrite, message_ids: Mapping[str, int]) -> None:
    """Bodies this page read settle a ``body_pending`` an earlier page (or late link) left.

    Only where nothing is owed any more: the message is untracked (the body
    was read to link on and linked nothing), keeps no body, or now has it.
    A message tracked by other means whose body this page dropped stays pending.
    """
    ids = sorted(
        message_ids[key]
        for key in page.body_read_keys - page.body_pending_keys
        if key in message_ids
    )
    for chunk in chunks(ids):
        session.execute(
            update(Message)
            .where(
                Message.id.in_(chunk),
                Message.body_pending.is_(True),
                or_(
                    Message.tracked.is_(False),
                    Message.store_body.is_(False),
                    Message.body_text.is_not(None),
                    Message.body_html.is_not(None),
                ),
            )
            .values(body_pending=False),
            execution_options={"synchronize_session": False},
        )


def _upsert_participants(
    session: Session, items: Sequence[MessageItem], message_ids: Mapping[str, int]
) -> None:
    """Participants accumulate: a Sent Items copy knows the Bcc, an Inbox copy does not."""
    rows: dict[tuple[int, str, str], dict[str, Any]] = {}
    for item in items:
        message_id = message_ids[item.message_key]
        roles = (
            ("from", (item.sender,) if item.sender else ()),
            ("to", item.to),
            ("cc", item.cc),
            ("bcc", item.bcc),
        )
        for role, addresses in roles:
            for address in addresses:
                if not address.address:
                    continue
                rows[(message_id, role, address.address)] = {
                    "message_id": message_id,
                    "role": role,
                    "address": address.address,
                    "name": address.name,
                }
    if not rows:
        return
    table = table_of(MessageParticipant)
    statement = insert_for(session, table)
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.message_id, table.c.role, table.c.address],
        set_={
            "name": case(
                (statement.excluded.name != "", statement.excluded.name), else_=table.c.name
            )
        },
    ).returning(table.c.id)
    execute_many(session, upsert, list(rows.values()))


def _upsert_meetings(session: Session, page: PageWrite) -> dict[str, int]:
    rows: dict[str, dict[str, Any]] = {}
    for item in page.meetings:
        key = item.meeting_key
        tracked = key in page.tracked_keys
        keep_body = tracked and key not in page.bodyless_keys
        row = {
            "meeting_key": key,
            "uid": item.uid,
            "recurrence_id": item.recurrence_id,
            "subject": item.subject,
            "start_at": item.start,
            "end_at": item.end,
            "timezone": item.timezone,
            "organizer_address": item.organizer.address if item.organizer else None,
            "organizer_name": item.organizer.name if item.organizer else "",
            "location": item.location,
            "online_meeting_url": item.online_meeting_url,
            "recurrence": item.recurrence,
            "is_cancelled": item.is_cancelled,
            "sensitivity": item.sensitivity.value,
            "body_text": item.body_text if keep_body else None,
            "tracked": tracked,
        }
        _merge_duplicate(rows, key, row)
    if not rows:
        return {}
    table = table_of(Meeting)
    statement = insert_for(session, table)
    new = statement.excluded
    updated = {
        column: getattr(new, column)
        for column in (
            "uid",
            "recurrence_id",
            "subject",
            "start_at",
            "end_at",
            "timezone",
            "organizer_address",
            "organizer_name",
            "location",
            "online_meeting_url",
            "recurrence",
            "is_cancelled",
            "sensitivity",
        )
    }
    updated["body_text"] = func.coalesce(new.body_text, table.c.body_text)
    updated["tracked"] = or_(table.c.tracked, new.tracked)
    updated["updated_at"] = func.now()
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.meeting_key], set_=updated
    ).returning(table.c.meeting_key, table.c.id)
    returned = execute_many(session, upsert, list(rows.values()))
    return {key: int(ident) for key, ident in returned}


def _replace_attendees(
    session: Session, items: Sequence[MeetingItem], meeting_ids: Mapping[str, int]
) -> None:
    """A meeting's attendee list is whatever its latest version says (people get uninvited)."""
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    latest: dict[int, MeetingItem] = {}
    for item in items:
        latest[meeting_ids[item.meeting_key]] = item
    for meeting_id, item in latest.items():
        for attendee in item.attendees:
            if attendee.address:
                rows[(meeting_id, attendee.address)] = {
                    "meeting_id": meeting_id,
                    "address": attendee.address,
                    "name": attendee.name,
                    "role": attendee.role,
                    "response": attendee.response,
                }
    table = table_of(MeetingAttendee)
    if rows:
        statement = insert_for(session, table)
        new = statement.excluded
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c.meeting_id, table.c.address],
            set_={"name": new.name, "role": new.role, "response": new.response},
        ).returning(table.c.id)
        execute_many(session, upsert, list(rows.values()))
    # Delete the attendees no longer listed, a bounded group of meetings at a time.
    listed: dict[int, list[tuple[int, str]]] = {}
    for pair in rows:
        listed.setdefault(pair[0], []).append(pair)
    group: list[int] = []
    pairs: list[tuple[int, str]] = []
    for meeting_id in sorted(latest):
        mine = listed.get(meeting_id, [])
        if group and len(pairs) + len(mine) > ATTENDEE_PAIRS_PER_DELETE:
            _delete_unlisted_attendees(session, group, pairs)
            group, pairs = [], []
        group.append(meeting_id)
        pairs.extend(mine)
    if group:
        _delete_unlisted_attendees(session, group, pairs)


def _delete_unlisted_attendees(
    session: Session, meeting_ids: list[int], keep: list[tuple[int, str]]
) -> None:
    table = table_of(MeetingAttendee)
    condition: ColumnElement[bool] = table.c.meeting_id.in_(meeting_ids)
    if keep:
        condition = and_(condition, tuple_(table.c.meeting_id, table.c.address).not_in(keep))
    session.execute(table.delete().where(condition))


def _upsert_copies(
    session: Session,
    model: type[MessageCopy] | type[MeetingCopy],
    item_column: str,
    mailbox_id: int,
    epoch: int,
    items: Sequence[MessageItem] | Sequence[MeetingItem],
    item_ids: Mapping[str, int],
) -> None:
    """The mailbox's copy: a move (same immutable id, new folder) updates and un-removes it."""
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        key = item.message_key if isinstance(item, MessageItem) else item.meeting_key
        rows[item.provider_item_id] = {
            item_column: item_ids[key],
            "mailbox_id": mailbox_id,
            "provider_item_id": item.provider_item_id,
            "folder": item.folder,
            "removed": False,
            "seen_epoch": epoch,
        }
    if not rows:
        return
    table = table_of(model)
    statement = insert_for(session, table)
    new = statement.excluded
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.mailbox_id, table.c.provider_item_id],
        set_={
            item_column: getattr(new, item_column),
            "folder": new.folder,
            "removed": False,
            "seen_epoch": new.seen_epoch,
            "updated_at": func.now(),
        },
    ).returning(table.c.id)
    execute_many(session, upsert, list(rows.values()))


# --------------------------------------------------------------------------- links


ItemRef = tuple[str, int]
Pair = tuple[str, int, str, int]


def _item_refs(
    message_ids: Mapping[str, int], meeting_ids: Mapping[str, int]
) -> dict[str, ItemRef]:
    refs: dict[str, ItemRef] = {key: (ItemKind.MESSAGE.value, i) for key, i in message_ids.items()}
    refs.update({key: (ItemKind.MEETING.value, i) for key, i in meeting_ids.items()})
    return refs


def _suppressed_pairs(
    session: Session, message_ids: Iterable[int], meeting_ids: Iterable[int]
) -> set[Pair]:
    """The page's suppressions in one query (per few thousand items)."""
    found: set[Pair] = set()
    for kind, ids in (
        (ItemKind.MESSAGE, sorted(message_ids)),
        (ItemKind.MEETING, sorted(meeting_ids)),
    ):
        for chunk in chunks(ids):
            rows = session.execute(
                select(
                    Suppression.item_kind,
                    Suppression.item_id,
                    Suppression.target_kind,
                    Suppression.target_id,
                ).where(Suppression.item_kind == kind.value, Suppression.item_id.in_(chunk))
            )
            found.update((k, int(i), tk, int(ti)) for k, i, tk, ti in rows)
    return found


_ORIGIN_RANK = {OriginKind.RULE: 0, OriginKind.INFERRED: 1, OriginKind.PERSON: -1}


def _upsert_links(
    session: Session,
    links: Mapping[str, Sequence[LinkSpec]],
    refs: Mapping[str, ItemRef],
    suppressed: set[Pair],
) -> tuple[int, int]:
    rows: dict[Pair, dict[str, Any]] = {}
    skipped = 0
    for key, specs in links.items():
        kind, item_id = refs[key]
        for spec in specs:
            pair = (kind, item_id, spec.target_kind.value, spec.target_id)
            if pair in suppressed:
                skipped += 1
                continue
            held = rows.get(pair)
            if (
                held is not None
                and _ORIGIN_RANK[OriginKind(held["origin_kind"])] <= _ORIGIN_RANK[spec.origin_kind]
            ):
                continue
            rows[pair] = {
                "item_kind": kind,
                "item_id": item_id,
                "target_kind": spec.target_kind.value,
                "target_id": spec.target_id,
                "origin_kind": spec.origin_kind.value,
                "origin": spec.origin,
                "actor": spec.actor,
                "evidence": spec.evidence,
            }
    if not rows:
        return 0, skipped
    table = table_of(Link)
    statement = insert_for(session, table)
    new = statement.excluded
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.item_kind, table.c.item_id, table.c.target_kind, table.c.target_id],
        set_={
            "origin_kind": new.origin_kind,
            "origin": new.origin,
            "actor": new.actor,
            "evidence": new.evidence,
        },
        # People outrank rules (invariant 3), and a firm rule link is not
        # downgraded to an inferred one by another mailbox's copy.
        where=or_(
            table.c.origin_kind == literal(OriginKind.INFERRED.value),
            and_(
                table.c.origin_kind == literal(OriginKind.RULE.value),
                new.origin_kind == literal(OriginKind.RULE.value),
            ),
        ),
    ).returning(table.c.id)
    return len(execute_many(session, upsert, list(rows.values()))), skipped


def _insert_suggestions(
    session: Session,
    suggestions: Mapping[str, Sequence[SuggestionLike]],
    refs: Mapping[str, ItemRef],
    suppressed: set[Pair],
) -> int:
    rows: dict[Pair, dict[str, Any]] = {}
    for key, specs in suggestions.items():
        kind, item_id = refs[key]
        for spec in specs:
            pair = (kind, item_id, TargetKind(spec.target_kind).value, spec.target_id)
            if pair not in suppressed:
                rows.setdefault(
                    pair,
                    {
                        "item_kind": kind,
                        "item_id": item_id,
                        "target_kind": pair[2],
                        "target_id": spec.target_id,
                        "reason": spec.reason,
                        "status": "pending",
                    },
                )
    if not rows:
        return 0
    table = table_of(LinkSuggestion)
    # A suggestion a person already confirmed or rejected keeps its status.
    upsert = insert_for(session, table).on_conflict_do_nothing().returning(table.c.id)
    return len(execute_many(session, upsert, list(rows.values())))


# --------------------------------------------------------------------------- ledgers, cursor


def _record_failures(
    session: Session, mailbox_id: int, failures: Sequence[tuple[str, str, str]]
) -> None:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for item_key, folder, error in failures:
        rows[(folder, item_key)] = {
            "mailbox_id": mailbox_id,
            "folder": folder,
            "item_key": item_key,
            "status": "failed",
            "error": error,
            "attempts": 1,
        }
    if not rows:
        return
    table = table_of(ProcessedItem)
    statement = insert_for(session, table)
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.mailbox_id, table.c.folder, table.c.item_key],
        set_={
            "status": "failed",
            "error": statement.excluded.error,
            "attempts": table.c.attempts + 1,
            "last_seen_at": func.now(),
        },
    ).returning(table.c.id)
    execute_many(session, upsert, list(rows.values()))


def _add_exclusions(session: Session, mailbox_id: int, exclusions: Mapping[str, int]) -> None:
    rows = [
        {"mailbox_id": mailbox_id, "reason": reason, "count": count}
        for reason, count in sorted(exclusions.items())
        if count
    ]
    if not rows:
        return
    table = table_of(ExclusionCount)
    statement = insert_for(session, table)
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.mailbox_id, table.c.reason],
        set_={"count": table.c.count + statement.excluded.count},
    ).returning(table.c.id)
    execute_many(session, upsert, rows)


def _write_cursor(
    session: Session, mailbox_id: int, folder: str, cursor: str, complete: bool
) -> None:
    table = table_of(SyncCursor)
    statement = insert_for(session, table).values(
        mailbox_id=mailbox_id, folder=folder, cursor=cursor, complete=complete
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.mailbox_id, table.c.folder],
        set_={"cursor": cursor, "complete": complete, "updated_at": func.now()},
    )
    session.execute(upsert)


def folder_cursor(session: Session, mailbox_id: int, folder: str) -> tuple[str | None, bool]:
    """The stored cursor of a folder and whether it ends a round; (None, False) if none."""
    row = session.execute(
        select(SyncCursor.cursor, SyncCursor.complete).where(
            SyncCursor.mailbox_id == mailbox_id, SyncCursor.folder == folder
        )
    ).one_or_none()
    return (None, False) if row is None else (row.cursor, bool(row.complete))


def _rowcount(result: Any) -> int:
    count = getattr(result, "rowcount", 0)
    return int(count) if count and count > 0 else 0


__all__ = [
    "InvalidPage",
    "ItemFailureRecord",
    "PageWrite",
    "PageWriteResult",
    "SuggestionLike",
    "apply_page",
    "apply_removals",
    "finish_resync",
    "folder_cursor",
    "reset_folder",
]
