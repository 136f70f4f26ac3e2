"""One message, one row: the message the add-in stored at send folds into the daemon's.

When a salesperson links a message while writing it, the add-in's send handler
(addin_manifest/static/commands.js) stores it as sent, at once. Office.js cannot
read a draft's Message-ID, so that row is keyed by the fallback key
(``crm_store.items.stable_header_key``, prefix ``hash:``) with an ``addin`` copy
in the sender's mailbox. The daemon later syncs the Sent Items copy by its real
internetMessageId. ``merge_sent_messages`` recognises the add-in's row (a
*send-time row*) and folds it into the daemon's (``crm_store.item_fold``), so
the message is one row keyed by its Message-ID, where the recipients' copies,
synced from their own mailboxes, land too (invariant 2).

The message's identity, as both sides know it:

    the sender's address, the subject (whitespace collapsed, case folded),
    the set of to + cc addresses, the conversation id when both know it, and
    the send time within ``SEND_WINDOW``.

A send-time row is a candidate only when it has no Message-ID (fallback key)
and an ``addin`` copy in the very mailbox the page is synced from: the send
handler stores it in the sender's own mailbox, and a page of someone else's
mailbox (a recipient's Inbox) never folds it. Every copy of the row must sit
in that mailbox or in the mailbox of someone the message names, so a
snapshot's claims never buy access to another person's mail.

Why ``SEND_WINDOW`` is ten minutes: the add-in's ``sentAt`` is the Outlook
client's clock when the handler runs, before the message is submitted; the
server's ``sentDateTime`` is stamped when the transport takes it. Client
clocks in a Windows domain are kept within five minutes of the servers (the
Kerberos default tolerance), and a message waits in the Outbox for a few
moments, or minutes on a slow connection. Ten minutes covers both while
keeping the window small next to how often one person sends the same subject
to the same people. A message held longer (Outlook offline, delayed delivery)
is not folded: it stays two rows, as before.

Never on ambiguity: a pair folds only when the page's message matches exactly
one send-time row, that row matches exactly one of the page's messages, and no
other stored message with a Message-ID matches that row. So the same mail sent
twice to the same people within the window stays apart (each send keeps its
own row, and the daemon's copies theirs): linking both from the wrong row is
worse than two rows.

Cost on the hot path: one query per page, through the partial index
``ix_messages_fallback_sent`` (fallback-keyed rows only) by the page's senders
and send times, which almost always finds nothing; only then are recipients
read and identities compared. The fold runs after the page's messages are
upserted (so the real row exists, however its first copy arrived) and before
its links are written (so a removal moved here holds for this very page); the
folded row is gone, so a replayed page folds nothing again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Result, Select, select, text
from sqlalchemy.orm import Session

from crm_store.item_fold import copies_outside, drop_folded, merge_tracking, move_dependants
from crm_store.items import ADDIN_FOLDER, FALLBACK_KEY_PREFIX, ItemKind, MessageItem
from crm_store.meeting_merge import normalised_subject
from crm_store.models import (
    FALLBACK_KEY_MESSAGE_ROWS,
    Message,
    MessageCopy,
    MessageParticipant,
)
from crm_store.upsert import chunks, execute_many, insert_for, table_of

SEND_WINDOW = timedelta(minutes=10)
"""How far the add-in's send time may be from the server's sentDateTime; see the docstring."""


@dataclass(frozen=True, slots=True)
class MessageIdentity:
    """What the send handler and the daemon both know of a message; see the module docstring."""

    sender: str
    subject: str
    recipients: frozenset[str]
    conversation: str | None
    sent_at: datetime

    def matches(self, other: MessageIdentity) -> bool:
        return (
            self.sender == other.sender
            and self.subject == other.subject
            and self.recipients == other.recipients
            and (
                self.conversation is None
                or other.conversation is None
                or self.conversation == other.conversation
            )
            and abs(self.sent_at - other.sent_at) <= SEND_WINDOW
        )


def is_fallback_key(message_key: str) -> bool:
    return message_key.startswith(FALLBACK_KEY_PREFIX)


def conversation_of(conversation_id: str | None) -> str | None:
    """A conversation id in one alphabet: ⚠ EWS-style ids use ``+/``, REST-style ``-_``."""
    if not conversation_id or not conversation_id.strip():
        return None
    return conversation_id.strip().replace("-", "+").replace("_", "/")


def message_identity(item: MessageItem) -> MessageIdentity | None:
    """The item's identity, or None without a sender or send time (never folded)."""
    if item.sender is None or not item.sender.address or item.sent_at is None:
        return None
    return MessageIdentity(
        sender=item.sender.address.lower(),
        subject=normalised_subject(item.subject),
        recipients=frozenset(a.address.lower() for a in (*item.to, *item.cc) if a.address),
        conversation=conversation_of(item.conversation_id),
        sent_at=item.sent_at,
    )


@dataclass(frozen=True, slots=True)
class _Stored:
    id: int
    sender: str
    subject: str
    conversation: str | None
    sent_at: datetime

    def identity(self, recipients: Mapping[int, frozenset[str]]) -> MessageIdentity:
        return MessageIdentity(
            sender=self.sender,
            subject=normalised_subject(self.subject),
            recipients=recipients.get(self.id, frozenset()),
            conversation=conversation_of(self.conversation),
            sent_at=self.sent_at,
        )


def merge_sent_messages(
    session: Session,
    mailbox_id: int,
    messages: Sequence[MessageItem],
    message_ids: Mapping[str, int],
) -> int:
    """Fold the send-time rows that are the page's messages into the page's rows; how many.

    Runs in the caller's transaction after the page's messages, participants
    and copies are upserted and before its links; see the module docstring.
    """
    wanted: dict[str, tuple[MessageItem, MessageIdentity]] = {}
    for item in messages:
        identity = message_identity(item)
        if identity is not None and not is_fallback_key(item.message_key):
            wanted.setdefault(item.message_key, (item, identity))
    if not wanted:
        return 0
    page_rows = set(message_ids.values())
    candidates = [
        row
        for row in _send_time_rows(session, mailbox_id, [i for _, i in wanted.values()])
        if row.id not in page_rows
    ]
    if not candidates:
        return 0
    recipients = _recipients(session, [row.id for row in candidates])
    pairs: list[tuple[_Stored, MessageIdentity, str]] = []
    for row in candidates:
        stored = row.identity(recipients)
        pairs.extend(
            (row, stored, key) for key, (_, identity) in wanted.items() if stored.matches(identity)
        )
    per_row: dict[int, int] = {}
    per_key: dict[str, int] = {}
    for row, _, key in pairs:
        per_row[row.id] = per_row.get(row.id, 0) + 1
        per_key[key] = per_key.get(key, 0) + 1
    single = [p for p in pairs if per_row[p[0].id] == 1 and per_key[p[2]] == 1]
    if not single:
        return 0
    into = {
        row.id: message_ids[key]
        for row, stored, key in single
        if not _also_matches_another(session, stored, message_ids[key])
    }
    named = {
        row.id: frozenset(a.address for a in wanted[key][0].participants)
        for row, _, key in single
        if row.id in into
    }
    for outsider in copies_outside(session, ItemKind.MESSAGE, mailbox_id, named):
        del into[outsider]
    if into:
        _fold(session, into)
    return len(into)


def _send_time_rows(
    session: Session, mailbox_id: int, identities: Collection[MessageIdentity]
) -> list[_Stored]:
    """Fallback-keyed rows with an ``addin`` copy in the mailbox, near the page's send times.

    One query: ``sender_address IN (…) AND sent_at BETWEEN …`` under the partial
    index's own predicate, so it reads ``ix_messages_fallback_sent`` (a
    handful of rows) and never the daemon's messages.
    """
    senders = sorted({identity.sender for identity in identities})
    earliest = min(identity.sent_at for identity in identities) - SEND_WINDOW
    latest = max(identity.sent_at for identity in identities) + SEND_WINDOW
    rows = session.execute(
        _select_stored()
        .where(
            text(FALLBACK_KEY_MESSAGE_ROWS),
            Message.sender_address.in_(senders),
            Message.sent_at.between(earliest, latest),
            select(MessageCopy.id)
            .where(
                MessageCopy.message_id == Message.id,
                MessageCopy.mailbox_id == mailbox_id,
                MessageCopy.folder == ADDIN_FOLDER,
            )
            .exists(),
        )
        .order_by(Message.id)
    )
    return _stored(rows)


def _select_stored() -> Select[int, str | None, str, str | None, datetime | None]:
    """The columns a ``_Stored`` is made of, in its order."""
    return select(
        Message.id,
        Message.sender_address,
        Message.subject,
        Message.conversation_id,
        Message.sent_at,
    )


def _stored(rows: Result[int, str | None, str, str | None, datetime | None]) -> list[_Stored]:
    """The rows of ``_select_stored`` that have a send time (only those have an identity)."""
    return [
        _Stored(int(ident), (sender or "").lower(), subject, conversation, sent_at)
        for ident, sender, subject, conversation, sent_at in rows
        if sent_at is not None
    ]


def _recipients(session: Session, ids: Sequence[int]) -> dict[int, frozenset[str]]:
    found: dict[int, set[str]] = {}
    for chunk in chunks(sorted(ids)):
        rows = session.execute(
            select(MessageParticipant.message_id, MessageParticipant.address).where(
                MessageParticipant.message_id.in_(chunk),
                MessageParticipant.role.in_(("to", "cc")),
            )
        )
        for message_id, address in rows:
            found.setdefault(int(message_id), set()).add(address.lower())
    return {ident: frozenset(addresses) for ident, addresses in found.items()}


def _also_matches_another(session: Session, stored: MessageIdentity, real_id: int) -> bool:
    """Another stored message with a Message-ID has this identity too (say, a second send
    already synced from a recipient's Inbox): the send-time row may be either."""
    rows = session.execute(
        _select_stored().where(
            Message.sender_address == stored.sender,
            Message.sent_at.between(stored.sent_at - SEND_WINDOW, stored.sent_at + SEND_WINDOW),
            Message.id != real_id,
            Message.message_key.not_like(f"{FALLBACK_KEY_PREFIX}%"),
        )
    )
    others = [
        other for other in _stored(rows) if normalised_subject(other.subject) == stored.subject
    ]
    if not others:
        return False
    recipients = _recipients(session, [other.id for other in others])
    return any(other.identity(recipients).matches(stored) for other in others)


def _fold(session: Session, into: Mapping[int, int]) -> None:
    """Move the send-time rows onto the page's rows, then drop them.

    The page's own participants are already on the merged row; the send-time
    row's (a Bcc the handler read, say) are added where missing.
    """
    merge_tracking(
        session, Message, into, ("body_text", "body_html"), keeps_body=Message.store_body.is_(True)
    )
    move_dependants(session, ItemKind.MESSAGE, into)
    moved: list[dict[str, object]] = []
    for chunk in chunks(sorted(into)):
        rows = session.execute(
            select(
                MessageParticipant.message_id,
                MessageParticipant.role,
                MessageParticipant.address,
                MessageParticipant.name,
            ).where(MessageParticipant.message_id.in_(chunk))
        )
        moved.extend(
            {"message_id": into[int(ident)], "role": role, "address": address, "name": name}
            for ident, role, address, name in rows
        )
    table = table_of(MessageParticipant)
    execute_many(
        session,
        insert_for(session, table).on_conflict_do_nothing().returning(table.c.id),
        moved,
    )
    drop_folded(session, ItemKind.MESSAGE, into)


__all__ = [
    "SEND_WINDOW",
    "MessageIdentity",
    "conversation_of",
    "is_fallback_key",
    "merge_sent_messages",
    "message_identity",
]
