"""Provider-neutral correspondence items: the one shape every driver produces.

Graph, EWS and file ingestion all normalise into these frozen dataclasses, the
rules engine reads them, and the store writes them. Keeping them in the store
package (which imports nothing of ours) lets every other package depend on
them without import cycles, and keeps the rules pure: they see plain data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias


class ItemKind(StrEnum):
    MESSAGE = "message"
    MEETING = "meeting"


class TargetKind(StrEnum):
    ACCOUNT = "account"
    CONTACT = "contact"
    OPPORTUNITY = "opportunity"


class OriginKind(StrEnum):
    """Who made a link; people outrank rules (DESIGN invariant 3)."""

    RULE = "rule"
    PERSON = "person"
    INFERRED = "inferred"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"
    UNKNOWN = "unknown"


class Sensitivity(StrEnum):
    NORMAL = "normal"
    PERSONAL = "personal"
    PRIVATE = "private"
    CONFIDENTIAL = "confidential"


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox address; ``address`` is always lower-cased and stripped."""

    address: str
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", self.address.strip().lower())

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content_type: str = "application/octet-stream"
    size: int = 0
    is_inline: bool = False


@dataclass(frozen=True, slots=True)
class MessageItem:
    """An email as seen in one folder of one mailbox.

    ``provider_item_id`` and ``folder`` identify the mailbox's copy; the
    ``message_key`` identifies the message itself across mailboxes (invariant 2).
    """

    provider_item_id: str
    folder: str
    internet_message_id: str | None
    subject: str
    sent_at: datetime | None
    sender: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    conversation_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    received_at: datetime | None = None
    sensitivity: Sensitivity = Sensitivity.NORMAL
    categories: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    has_attachments: bool = False
    attachments: tuple[Attachment, ...] = ()
    body_text: str | None = None
    body_html: str | None = None
    direction: Direction = Direction.UNKNOWN

    @property
    def kind(self) -> ItemKind:
        return ItemKind.MESSAGE

    @property
    def message_key(self) -> str:
        """internetMessageId, or a hash of stable headers when a message has none."""
        if self.internet_message_id:
            return self.internet_message_id.strip()
        return stable_header_key(
            sender=self.sender.address if self.sender else "",
            recipients=sorted(a.address for a in (*self.to, *self.cc)),
            subject=self.subject,
            sent_at=self.sent_at,
        )

    @property
    def participants(self) -> tuple[Address, ...]:
        """Sender first, then to, cc, bcc: the order the participant matcher walks."""
        head = (self.sender,) if self.sender else ()
        return (*head, *self.to, *self.cc, *self.bcc)


ADDIN_FOLDER = "addin"
"""Folder of the copy the Outlook add-in stores of an item a user tagged.

The web service writes it and the sync's folds look for it
(``crm_store.message_merge``), so it is named once, here.
"""


FALLBACK_KEY_PREFIX = "hash:"
"""``message_key`` prefix of a message stored without Message-ID (``stable_header_key``).

``models.FALLBACK_KEY_MESSAGE_ROWS`` (a partial index's predicate) spells it in SQL.
"""


def stable_header_key(
    *, sender: str, recipients: list[str], subject: str, sent_at: datetime | None
) -> str:
    """Fallback identity for a message without Message-ID.

    Only headers every copy of the message carries unchanged are hashed, so the
    Sent Items copy and each recipient's copy produce the same key.
    """
    stamp = sent_at.isoformat(timespec="seconds") if sent_at else ""
    raw = "\x1f".join([sender.lower(), ",".join(recipients), subject.strip(), stamp])
    return FALLBACK_KEY_PREFIX + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Attendee:
    address: str
    name: str = ""
    role: str = "required"  # required | optional | resource
    response: str = "none"  # none | accepted | tentative | declined | organizer

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", self.address.strip().lower())


@dataclass(frozen=True, slots=True)
class MeetingItem:
    """A calendar event (single instance, occurrence or exception) in one mailbox.

    ``meeting_key`` is the iCalendar UID, suffixed with the recurrence id for an
    occurrence, so each occurrence is its own stored meeting.
    """

    provider_item_id: str
    folder: str
    uid: str
    subject: str
    start: datetime
    end: datetime
    timezone: str = "UTC"
    organizer: Address | None = None
    attendees: tuple[Attendee, ...] = ()
    location: str = ""
    online_meeting_url: str | None = None
    recurrence_id: str | None = None
    recurrence: str | None = None
    is_cancelled: bool = False
    sensitivity: Sensitivity = Sensitivity.NORMAL
    categories: tuple[str, ...] = ()
    body_text: str | None = None

    @property
    def kind(self) -> ItemKind:
        return ItemKind.MEETING

    @property
    def meeting_key(self) -> str:
        return f"{self.uid}#{self.recurrence_id}" if self.recurrence_id else self.uid

    @property
    def participants(self) -> tuple[Address, ...]:
        head = (self.organizer,) if self.organizer else ()
        return (*head, *(Address(a.address, a.name) for a in self.attendees))


CorrespondenceItem = MessageItem | MeetingItem


@dataclass(frozen=True, slots=True)
class Removal:
    """The provider says this copy left the folder (deleted, moved out, out of window)."""

    provider_item_id: str
    folder: str
    kind: ItemKind


DeferredEvidence: TypeAlias = tuple[str, *tuple[object, ...]]
"""Evidence not written out yet: a ``str.format`` template, then the values it names.

The rules engine makes ~3 links per message and most are never read before
the store writes them. With a million contacts, reading a contact's or an
account's name to format the text costs a cache miss per object (~0.3 µs);
keeping the template and the objects it names defers that to the one place
the words are needed (``LinkSpec.evidence``). Templates are our own constants
(``"participant: {0}={1} → contact {2.record.name}"``), never user input.
"""


def render_evidence(source: str | DeferredEvidence) -> str:
    """The words of ``source``: itself when text, else its template filled in."""
    if isinstance(source, str):
        return source
    return source[0].format(*source[1:])


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """A link the rules (or a person) want between an item and a CRM record.

    ``target_id`` is the store's primary key; ``evidence`` says why, in words a
    salesperson can read (invariant 5). It is held as ``evidence_source``, text
    or a ``DeferredEvidence`` the matchers build without touching the records'
    names, and rendered on each read of ``evidence``. Two specs are equal when
    their words are, however each holds them.
    """

    target_kind: TargetKind
    target_id: int
    origin_kind: OriginKind
    origin: str
    evidence_source: str | DeferredEvidence
    actor: str | None = None

    @property
    def evidence(self) -> str:
        return render_evidence(self.evidence_source)

    def _compared(self) -> tuple[TargetKind, int, OriginKind, str, str, str | None]:
        return (
            self.target_kind,
            self.target_id,
            self.origin_kind,
            self.origin,
            self.evidence,
            self.actor,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LinkSpec):
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())
