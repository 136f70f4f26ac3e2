"""An Outlook item as the add-in reads it, how to name a stored item, and its links."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from crm_store.items import ItemKind, TargetKind
from web.schemas.common import (
    ApiInput,
    ApiModel,
    EmailText,
    Identifier,
    ItemRefPublic,
    LinkPublic,
    ShortText,
    TargetRefIn,
)
from web.schemas.field_error import field_error
from web.schemas.lookup import SuggestedLink

MAX_PEOPLE = 500
MAX_BODY_CHARS = 1_000_000
MAX_HEADERS_CHARS = 256_000
MAX_SUBJECT_CHARS = 10_000


class PersonIn(ApiInput):
    name: ShortText = ""
    address: EmailText


class ItemSnapshot(ApiInput):
    """The item as Office.js hands it over (the contract of addin_manifest/static/README.md).

    Sent when the daemon may not have synced the item yet, so it can be stored
    (and linked) at once; the daemon's copy later merges into the same row
    because both key a message by its internetMessageId.
    """

    kind: ItemKind
    mode: Literal["read", "compose"] = "read"
    item_id: Identifier
    rest_item_id: Identifier | None = None
    conversation_id: Identifier | None = None
    subject: str = Field(default="", max_length=MAX_SUBJECT_CHARS)
    body: str | None = Field(default=None, max_length=MAX_BODY_CHARS)
    internet_message_id: Identifier | None = None
    sender: PersonIn | None = Field(default=None, alias="from")
    to: list[PersonIn] = Field(default_factory=list, max_length=MAX_PEOPLE)
    cc: list[PersonIn] = Field(default_factory=list, max_length=MAX_PEOPLE)
    bcc: list[PersonIn] = Field(default_factory=list, max_length=MAX_PEOPLE)
    sent_at: datetime | None = None
    headers: str | None = Field(default=None, max_length=MAX_HEADERS_CHARS)
    organizer: PersonIn | None = None
    required_attendees: list[PersonIn] = Field(default_factory=list, max_length=MAX_PEOPLE)
    optional_attendees: list[PersonIn] = Field(default_factory=list, max_length=MAX_PEOPLE)
    start: datetime | None = None
    end: datetime | None = None
    i_cal_uid: Identifier | None = Field(default=None, alias="iCalUId")
    mailbox: EmailText | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> ItemSnapshot:
        if self.kind is ItemKind.MEETING and self.mode == "read":
            if self.start is None:
                raise field_error("start", "a meeting needs its start time")
            if self.end is None:
                raise field_error("end", "a meeting needs its end time")
            if self.end < self.start:
                raise field_error("end", "a meeting cannot end before it starts")
        for name, wire in (("sent_at", "sentAt"), ("start", "start"), ("end", "end")):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise field_error(wire, "give a time zone (ISO 8601 with Z or an offset)")
        return self


IDENTITY_FIELDS = ("organizer", "start", "end", "subject")
"""A meeting's identity; each name is also its wire name."""

ITEM_IDS = (
    ("internet_message_id", "internetMessageId"),
    ("i_cal_uid", "iCalUId"),
    ("item_id", "itemId"),
)
"""The ids a selector may name an item by: (field, wire name)."""


class ItemSelector(ApiInput):
    """Names a stored item by exactly one of the ids the add-in knows.

    A meeting named by ``itemId`` may carry its natural identity too
    (``organizer``, ``start``, ``end``, ``subject``, all four): Office.js has
    no iCalendar UID, and its item id is not the Graph immutable id the daemon
    stored the meeting's copies under, so a meeting only the daemon stored is
    found by that identity (``web.meeting_match``) when the id names nothing.
    """

    internet_message_id: Identifier | None = None
    i_cal_uid: Identifier | None = Field(default=None, alias="iCalUId")
    recurrence_id: Identifier | None = None
    item_id: Identifier | None = None
    organizer: EmailText | None = None
    start: datetime | None = None
    end: datetime | None = None
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT_CHARS)

    @field_validator("start", "end")
    @classmethod
    def _zoned(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (ISO 8601 with Z or an offset)")
        start = info.data.get("start")
        if info.field_name == "end" and value is not None and start is not None and value < start:
            raise ValueError("a meeting cannot end before it starts")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ItemSelector:
        """Each refusal names the field to fix: the second id sent, the first identity
        field missing; only a selector with no id at all is wrong as a whole."""
        given = [wire for name, wire in ITEM_IDS if getattr(self, name)]
        if not given:
            raise ValueError("give exactly one of internetMessageId, iCalUId or itemId")
        if len(given) > 1:
            raise field_error(
                given[1],
                f"give only one of internetMessageId, iCalUId or itemId (got {', '.join(given)})",
            )
        if self.recurrence_id and not self.i_cal_uid:
            raise field_error("recurrenceId", "only with iCalUId")
        identity = [n for n in IDENTITY_FIELDS if getattr(self, n) is not None]
        if identity and not self.item_id:
            raise field_error(identity[0], "a meeting's identity goes with itemId only")
        missing = [n for n in IDENTITY_FIELDS if getattr(self, n) is None]
        if identity and missing:
            raise field_error(
                missing[0],
                "give all of organizer, start, end and subject "
                f"to name a meeting by its identity (missing {', '.join(missing)})",
            )
        return self

    @property
    def has_identity(self) -> bool:
        return self.organizer is not None


class LinkCreate(ApiInput):
    """Link an item to a record; ``snapshot`` stores the item first if it is not stored yet."""

    item: ItemSelector
    target: TargetRefIn
    note: ShortText = ""
    snapshot: ItemSnapshot | None = None


class ItemLinks(ApiModel):
    item: ItemRefPublic
    links: list[LinkPublic]
    suggestions: list[SuggestedLink]


class LinkResult(ApiModel):
    item: ItemRefPublic
    link: LinkPublic
    stored_now: bool


class UnlinkResult(ApiModel):
    item: ItemRefPublic
    removed: bool
    suppressed: bool


class TrackedLink(ApiModel):
    target_type: TargetKind
    target_id: int
    target_name: str
    reason: str


class TrackResult(ApiModel):
    """The answer ``commands.js`` reads: what the rules linked (``links`` may be empty)."""

    stored: bool
    item: ItemRefPublic | None
    links: list[TrackedLink]
