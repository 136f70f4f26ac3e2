"""The central store's tables, as SQLAlchemy 2.0 typed ORM models.

Alembic owns the schema (crm_store/migrations); these classes are what the
migrations were written from and what queries use. Natural keys carry unique
constraints because every write on the sync path is an ``INSERT … ON
CONFLICT`` against them: idempotence lives in the schema, not in loops.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crm_store.email_domain import email_domain

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
PK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in time, stored in UTC and always read back timezone-aware.

    SQLite has no timestamp type: SQLAlchemy writes the wall-clock fields and
    drops the offset, so 09:00+02:00 would come back as a naive 09:00 while
    PostgreSQL returns an aware 07:00Z. Normalising to UTC on the way in and
    tagging UTC on the way out makes both backends agree. Naive datetimes are
    refused because nobody can tell which zone they meant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; pass a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


TZDateTime = UTCDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(TZDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        TZDateTime, server_default=func.now(), onupdate=func.now()
    )


# --------------------------------------------------------------------------- CRM records


class User(Timestamped, Base):
    """A salesperson, manager or admin; managers see their team's correspondence."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('salesperson','manager','admin')", name="role"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="salesperson")
    team: Mapped[str | None] = mapped_column(String(100))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    entra_object_id: Mapped[str | None] = mapped_column(String(64), unique=True)

    manager: Mapped[User | None] = relationship(remote_side=[id])


# Our colleagues at an item's domains, for every add-in lookup (crm_store.record_reach).
Index("ix_users_email_domain", email_domain(User.__table__.c.email))


class Account(Timestamped, Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    domains: Mapped[list[AccountDomain]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="AccountDomain.id"
    )
    owner: Mapped[User | None] = relationship()


class AccountDomain(Base):
    """An email domain that belongs to exactly one account (domain → account matching)."""

    __tablename__ = "account_domains"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(255), unique=True)

    account: Mapped[Account] = relationship(back_populates="domains")


class Contact(Timestamped, Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )

    emails: Mapped[list[ContactEmail]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactEmail.position"
    )
    account: Mapped[Account | None] = relationship()

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactEmail(Base):
    """A contact's address; position 0 is the primary one (used as the export key)."""

    __tablename__ = "contact_emails"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    contact: Mapped[Contact] = relationship(back_populates="emails")


class Opportunity(Timestamped, Base):
    __tablename__ = "opportunities"
    __table_args__ = (CheckConstraint("status IN ('open','won','lost')", name="status"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    close_date: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    account: Mapped[Account] = relationship()
    owner: Mapped[User | None] = relationship()


class ApiToken(Base):
    """A personal API token for scripts: only its SHA-256 is stored, never the token.

    Tokens are long random strings, so a plain (unsalted) hash is enough to make
    a stolen table useless and still lets a request find its row by index.
    ``prefix`` is the token's first characters, shown in listings to tell
    tokens apart without revealing them.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(TZDateTime)

    user: Mapped[User] = relationship()


# --------------------------------------------------------------------------- mailboxes


class Mailbox(Timestamped, Base):
    """A mailbox the daemon syncs; its state and backoff survive restarts."""

    __tablename__ = "mailboxes"
    __table_args__ = (
        CheckConstraint("provider IN ('graph','ews')", name="provider"),
        CheckConstraint(
            "sync_status IN ('idle','syncing','ok','throttled','error','auth_failed','disabled')",
            name="sync_status",
        ),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    provider: Mapped[str] = mapped_column(String(10), default="graph")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tracking_policy: Mapped[str] = mapped_column(String(20), default="rules")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sync_status: Mapped[str] = mapped_column(String(20), default="idle")
    last_sync_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_sync_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)

    owner: Mapped[User | None] = relationship()


Index("ix_mailboxes_address_domain", email_domain(Mailbox.__table__.c.address))


class SyncCursor(Base):
    """Per-folder provider cursor (Graph delta link / EWS sync state).

    Written in the same transaction as the page it follows (invariant 1).
    """

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("mailbox_id", "folder"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(200))
    cursor: Mapped[str | None] = mapped_column(Text)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    # Full-resync generation: reset_folder bumps it and sets ``resyncing``; every
    # copy a page writes is stamped with it, so when the resync completes the
    # copies still carrying an older stamp are the ones the mailbox no longer has.
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    resyncing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(
        TZDateTime, server_default=func.now(), onupdate=func.now()
    )


# --------------------------------------------------------------------------- correspondence


FALLBACK_KEY_MESSAGE_ROWS = "message_key LIKE 'hash:%'"
"""Messages keyed by the stable-header hash (crm_store.items.FALLBACK_KEY_PREFIX): no Message-ID."""


class Message(Timestamped, Base):
    """One email, stored once however many mailboxes hold it (invariant 2).

    ``ix_messages_fallback_sent`` holds only the rows without a Message-ID (the
    add-in's, stored at send), for the sync's per-page look for the send-time
    row of a message it brings (crm_store.message_merge).
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "ix_messages_fallback_sent",
            "sender_address",
            "sent_at",
            sqlite_where=text(FALLBACK_KEY_MESSAGE_ROWS),
            postgresql_where=text(FALLBACK_KEY_MESSAGE_ROWS),
        ),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(998), unique=True)
    internet_message_id: Mapped[str | None] = mapped_column(String(998))
    conversation_id: Mapped[str | None] = mapped_column(String(512), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[Any]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(TZDateTime, index=True)
    direction: Mapped[str] = mapped_column(String(10), default="unknown")
    sensitivity: Mapped[str] = mapped_column(String(20), default="normal")
    sender_address: Mapped[str | None] = mapped_column(String(320), index=True)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    store_body: Mapped[bool] = mapped_column(Boolean, default=True)
    # Linked after it was stored (retroactive linking): the next sync of a
    # mailbox holding a copy fetches the body and clears this.
    body_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class MessageParticipant(Base):
    __tablename__ = "message_participants"
    __table_args__ = (
        UniqueConstraint("message_id", "role", "address"),
        CheckConstraint("role IN ('from','to','cc','bcc')", name="role"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(4))
    address: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(300), default="")


class MessageCopy(Base):
    """A mailbox's copy of a message: where it sits, and whether it was removed."""

    __tablename__ = "message_copies"
    __table_args__ = (UniqueConstraint("mailbox_id", "provider_item_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    provider_item_id: Mapped[str] = mapped_column(String(512))
    folder: Mapped[str] = mapped_column(String(200))
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    seen_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        TZDateTime, server_default=func.now(), onupdate=func.now()
    )


PANE_MEETING_ROWS = "meeting_key LIKE 'exchange-item:%'"
"""Meetings the add-in stored by Exchange item id (crm_store.meeting_merge.PANE_KEY_PREFIX)."""


class Meeting(Timestamped, Base):
    """One meeting occurrence, keyed by iCalendar UID (+ recurrence id).

    The add-in stores a meeting it cannot name by UID under ``exchange-item:<id>``;
    ``ix_meetings_identity`` finds it again by organizer and start to merge it
    with the daemon's row (crm_store.meeting_merge); ``ix_meetings_pane_start``
    holds only those rows, for the sync's per-page look.
    """

    __tablename__ = "meetings"
    __table_args__ = (
        Index("ix_meetings_identity", "organizer_address", "start_at"),
        Index(
            "ix_meetings_pane_start",
            "start_at",
            sqlite_where=text(PANE_MEETING_ROWS),
            postgresql_where=text(PANE_MEETING_ROWS),
        ),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    meeting_key: Mapped[str] = mapped_column(String(1100), unique=True)
    uid: Mapped[str] = mapped_column(String(1024), index=True)
    recurrence_id: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text, default="")
    start_at: Mapped[datetime] = mapped_column(TZDateTime, index=True)
    end_at: Mapped[datetime] = mapped_column(TZDateTime)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    organizer_address: Mapped[str | None] = mapped_column(String(320))
    organizer_name: Mapped[str] = mapped_column(String(300), default="")
    location: Mapped[str] = mapped_column(Text, default="")
    online_meeting_url: Mapped[str | None] = mapped_column(Text)
    recurrence: Mapped[str | None] = mapped_column(Text)
    is_cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitivity: Mapped[str] = mapped_column(String(20), default="normal")
    body_text: Mapped[str | None] = mapped_column(Text)
    tracked: Mapped[bool] = mapped_column(Boolean, default=False)


class MeetingAttendee(Base):
    __tablename__ = "meeting_attendees"
    __table_args__ = (UniqueConstraint("meeting_id", "address"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(20), default="required")
    response: Mapped[str] = mapped_column(String(20), default="none")


class MeetingCopy(Base):
    __tablename__ = "meeting_copies"
    __table_args__ = (UniqueConstraint("mailbox_id", "provider_item_id"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    provider_item_id: Mapped[str] = mapped_column(String(512))
    folder: Mapped[str] = mapped_column(String(200))
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    seen_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        TZDateTime, server_default=func.now(), onupdate=func.now()
    )


# --------------------------------------------------------------------------- links


ITEM_KINDS = "item_kind IN ('message','meeting')"
TARGET_KINDS = "target_kind IN ('account','contact','opportunity')"


class Link(Base):
    """An item tied to a CRM record, with who made it and why (invariant 5).

    Items and targets are polymorphic (kind + id) so one table and one unique
    key serve every combination; deletes of records clean up in crm_store.
    """

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("item_kind", "item_id", "target_kind", "target_id"),
        CheckConstraint(ITEM_KINDS, name="item_kind"),
        CheckConstraint(TARGET_KINDS, name="target_kind"),
        CheckConstraint("origin_kind IN ('rule','person','inferred')", name="origin_kind"),
        Index("ix_links_target", "target_kind", "target_id"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    item_kind: Mapped[str] = mapped_column(String(10))
    item_id: Mapped[int] = mapped_column(BigInteger)
    target_kind: Mapped[str] = mapped_column(String(12))
    target_id: Mapped[int] = mapped_column(BigInteger)
    origin_kind: Mapped[str] = mapped_column(String(10))
    origin: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(320))
    evidence: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, server_default=func.now())


class Suppression(Base):
    """A person removed this link; rules must never add it again (invariant 3)."""

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("item_kind", "item_id", "target_kind", "target_id"),
        CheckConstraint(ITEM_KINDS, name="item_kind"),
        CheckConstraint(TARGET_KINDS, name="target_kind"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    item_kind: Mapped[str] = mapped_column(String(10))
    item_id: Mapped[int] = mapped_column(BigInteger)
    target_kind: Mapped[str] = mapped_column(String(12))
    target_id: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, server_default=func.now())


class LinkSuggestion(Base):
    """A link the rules could not decide alone (several open opportunities)."""

    __tablename__ = "link_suggestions"
    __table_args__ = (
        UniqueConstraint("item_kind", "item_id", "target_kind", "target_id"),
        CheckConstraint(ITEM_KINDS, name="item_kind"),
        CheckConstraint(TARGET_KINDS, name="target_kind"),
        CheckConstraint("status IN ('pending','confirmed','rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    item_kind: Mapped[str] = mapped_column(String(10))
    item_id: Mapped[int] = mapped_column(BigInteger)
    target_kind: Mapped[str] = mapped_column(String(12))
    target_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[datetime] = mapped_column(TZDateTime, server_default=func.now())


# --------------------------------------------------------------------------- ledgers


class ProcessedItem(Base):
    """Items that failed or were skipped, with the error, so nothing is lost silently."""

    __tablename__ = "processed_items"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "folder", "item_key"),
        CheckConstraint("status IN ('failed','skipped','retried')", name="status"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(200), default="")
    item_key: Mapped[str] = mapped_column(String(998))
    status: Mapped[str] = mapped_column(String(10), default="failed")
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(TZDateTime, server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(
        TZDateTime, server_default=func.now(), onupdate=func.now()
    )


class ExclusionCount(Base):
    """How many items each exclusion kept out of the store, per mailbox (never their content)."""

    __tablename__ = "exclusion_counts"
    __table_args__ = (UniqueConstraint("mailbox_id", "reason"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(100))
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class CrmChange(Base):
    """A CRM record that changed (written by triggers, revisions 0005 and 0012), oldest first.

    Daemons keep the CRM in memory and read this log once per cycle to apply
    only what changed; retroactive linking reads it to know which addresses,
    domains and codes are new. Rows carry ids only; the records are re-read.
    """

    __tablename__ = "crm_changes"
    __table_args__ = (
        CheckConstraint(
            "record_kind IN ('contact','account','opportunity','user','mailbox')",
            name="record_kind",
        ),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    record_kind: Mapped[str] = mapped_column(String(12))
    record_id: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(TZDateTime, server_default=func.now())


class ChangeLogWatermark(Base):
    """The last ``crm_changes`` id a consumer (retroactive linking) has fully applied."""

    __tablename__ = "change_log_watermarks"

    consumer: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_change_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class SecretBlob(Base):
    """Encrypted secrets (msal token caches); the key never lives in the database."""

    __tablename__ = "secret_blobs"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(
        TZDateTime, server_default=func.now(), onupdate=func.now()
    )


# --------------------------------------------------------------------------- scale-out (issue 8)


class GraphSubscription(Base):
    """A Graph change-notification subscription on one resource of one mailbox.

    One row per (mailbox, ``resource_kind``): ``messages`` (every mail folder)
    or ``events`` (the calendar). Graph echoes ``clientState`` in every
    notification; only its SHA-256 is kept, so a leaked database cannot forge
    notifications. ``expires_at`` is what the renewal job schedules from.
    """

    __tablename__ = "graph_subscriptions"
    __table_args__ = (UniqueConstraint("mailbox_id", "resource_kind"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True
    )
    resource_kind: Mapped[str] = mapped_column(String(20), server_default="messages")
    subscription_id: Mapped[str] = mapped_column(String(200), unique=True)
    resource: Mapped[str] = mapped_column(Text)
    client_state_sha256: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(TZDateTime)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, server_default=func.now())
    renewed_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class GraphSubscriptionAttempt(Base):
    """Failed creations of one (mailbox, resource kind) subscription, for backoff.

    A mailbox Graph refuses to subscribe (a validation handshake that failed,
    a missing permission) is tried again at ``retry_at``, later after each
    failure; polling keeps the mailbox synced meanwhile. The row goes once a
    subscription is made.
    """

    __tablename__ = "graph_subscription_attempts"

    mailbox_id: Mapped[int] = mapped_column(
        PK, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True
    )
    resource_kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    retry_at: Mapped[datetime] = mapped_column(TZDateTime)
    last_error: Mapped[str] = mapped_column(Text)


class GraphRequestWindow(Base):
    """Graph requests spent per mailbox in one fixed 10-minute window, across all workers.

    Outlook allows 10,000 requests per app per mailbox per 10 minutes; workers
    on many machines reserve from this shared count with one atomic upsert.
    """

    __tablename__ = "graph_request_windows"

    mailbox: Mapped[str] = mapped_column(String(320), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
