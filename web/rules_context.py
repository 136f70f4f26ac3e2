"""The rules as the web service runs them: on a slice of the CRM, read per request.

The daemon keeps the whole CRM in memory; a web process does not need to
(and must not go stale when another process imports contacts). For one item
or a handful of addresses only a few records can match: the contacts with
those addresses, the accounts of those contacts and domains, their open
opportunities, and opportunities whose code appears in the text. We read
exactly those, build a small ``CrmIndex`` and hand it to the pure engine, so
suggestions here are what the daemon's rules would say.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from crm_store.items import CorrespondenceItem, LinkSpec
from crm_store.links import latest_links_for_conversations, links_for_messages_by_message_id
from crm_store.models import Account, AccountDomain, Contact, ContactEmail, Opportunity, User
from crm_store.upsert import chunks
from mailsync.config.sections import RulesSettings as ConfiguredRules
from rules import (
    AccountRecord,
    ContactRecord,
    CrmIndex,
    LinkResult,
    OpportunityRecord,
    RulesEngine,
    RulesSettings,
    StoredThreadLinks,
    TargetRef,
)
from rules.tracking_code import CodeScanner

MAX_CODES = 50


def rules_settings_from(configured: ConfiguredRules) -> RulesSettings:
    return RulesSettings(
        tracking_code_pattern=configured.tracking_code_pattern,
        internal_only_excluded=configured.internal_only_excluded,
        blocked_addresses=tuple(configured.blocked_addresses),
        blocked_domains=tuple(configured.blocked_domains),
        retro_window_days=max(1, configured.retro_window_days),
    )


@dataclass(frozen=True, slots=True)
class CrmSlice:
    """The records an item's addresses and codes can reach, plus the index built from them."""

    index: CrmIndex
    contacts_by_address: dict[str, ContactRecord] = field(default_factory=dict)


class StoreThreadLookup:
    """Thread correlation over the store (the rules' ThreadLookup protocol)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def links_for_message_id(self, internet_message_id: str) -> StoredThreadLinks | None:
        found = links_for_messages_by_message_id(self._session, [internet_message_id])
        thread = found.get(internet_message_id)
        return None if thread is None else StoredThreadLinks(thread.message_id, thread.links)

    def links_for_conversation(
        self, conversation_id: str, exclude_message_id: str | None
    ) -> StoredThreadLinks | None:
        found = latest_links_for_conversations(self._session, [conversation_id])
        for key, thread in found.get(conversation_id, []):
            if key != exclude_message_id:
                return StoredThreadLinks(thread.message_id, thread.links)
        return None


class RulesContext:
    """Built once per app: settings and compiled patterns; ``engine_for`` per request."""

    def __init__(self, settings: RulesSettings, internal_domains: Iterable[str]) -> None:
        self.settings = settings
        self.internal_domains = tuple(internal_domains)
        self._scanner = CodeScanner(settings.tracking_code_pattern)

    def codes_in(self, *texts: str | None) -> list[str]:
        found: list[str] = []
        for text in texts:
            if text:
                found.extend(self._scanner.codes(text))
        return sorted({code.upper() for code in found})[:MAX_CODES]

    def load_slice(
        self, session: Session, addresses: Collection[str], codes: Sequence[str] = ()
    ) -> CrmSlice:
        wanted = sorted({a.strip().lower() for a in addresses if a and "@" in a})
        domains = sorted({a.rpartition("@")[2] for a in wanted})
        contacts = _contacts(session, wanted)
        account_ids = {c.account_id for c in contacts if c.account_id is not None}
        for chunk in chunks(domains):
            account_ids.update(
                int(i)
                for i in session.scalars(
                    select(AccountDomain.account_id).where(AccountDomain.domain.in_(chunk))
                )
            )
        by_code = _opportunities(session, Opportunity.code.in_(codes)) if codes else []
        account_ids.update(o.account_id for o in by_code)
        accounts = _accounts(session, account_ids)
        opportunities = {o.id: o for o in by_code}
        if account_ids:
            for id_chunk in chunks(sorted(account_ids)):
                for opportunity in _opportunities(
                    session, Opportunity.account_id.in_(id_chunk) & (Opportunity.status == "open")
                ):
                    opportunities[opportunity.id] = opportunity
        users = [
            str(e)
            for chunk in chunks(wanted)
            for e in session.scalars(select(User.email).where(func.lower(User.email).in_(chunk)))
        ]
        index = CrmIndex.build(
            accounts=accounts,
            contacts=contacts,
            opportunities=opportunities.values(),
            user_emails=users,
            internal_domains=self.internal_domains,
        )
        by_address = {e: c for c in contacts for e in c.emails if e in set(wanted)}
        return CrmSlice(index, by_address)

    def evaluate(
        self,
        session: Session | None,
        crm: CrmSlice,
        item: CorrespondenceItem,
        *,
        mailbox_owner: str | None,
        suppressed: Collection[TargetRef] = (),
    ) -> LinkResult:
        lookup = StoreThreadLookup(session) if session is not None else None
        engine = RulesEngine(crm.index, self.settings, thread_lookup=lookup)
        return engine.link(item, mailbox=mailbox_owner, suppressed=suppressed)

    def run(
        self,
        session: Session,
        item: CorrespondenceItem,
        *,
        mailbox_owner: str | None,
        suppressed: Collection[TargetRef] = (),
    ) -> tuple[LinkResult, CrmSlice]:
        """The rules' verdict on ``item`` as the daemon would give it."""
        addresses = [a.address for a in item.participants]
        body = getattr(item, "body_text", None)
        crm = self.load_slice(session, addresses, self.codes_in(item.subject, body))
        result = self.evaluate(
            session, crm, item, mailbox_owner=mailbox_owner, suppressed=suppressed
        )
        return result, crm


def _contacts(session: Session, emails: Sequence[str]) -> list[ContactRecord]:
    ids: set[int] = set()
    for chunk in chunks(emails):
        ids.update(
            int(i)
            for i in session.scalars(
                select(ContactEmail.contact_id).where(ContactEmail.email.in_(chunk))
            )
        )
    if not ids:
        return []
    all_emails: dict[int, list[str]] = {}
    records: list[ContactRecord] = []
    for id_chunk in chunks(sorted(ids)):
        for contact_id, email in session.execute(
            select(ContactEmail.contact_id, ContactEmail.email)
            .where(ContactEmail.contact_id.in_(id_chunk))
            .order_by(ContactEmail.contact_id, ContactEmail.position, ContactEmail.id)
        ):
            all_emails.setdefault(int(contact_id), []).append(email)
        for contact_id, first, last, account_id in session.execute(
            select(Contact.id, Contact.first_name, Contact.last_name, Contact.account_id).where(
                Contact.id.in_(id_chunk)
            )
        ):
            records.append(
                ContactRecord(
                    int(contact_id),
                    f"{first} {last}".strip(),
                    tuple(all_emails.get(int(contact_id), ())),
                    None if account_id is None else int(account_id),
                )
            )
    return records


def _accounts(session: Session, ids: Collection[int]) -> list[AccountRecord]:
    if not ids:
        return []
    owner = aliased(User)
    domains: dict[int, list[str]] = {}
    records: list[AccountRecord] = []
    for chunk in chunks(sorted(ids)):
        for account_id, domain in session.execute(
            select(AccountDomain.account_id, AccountDomain.domain)
            .where(AccountDomain.account_id.in_(chunk))
            .order_by(AccountDomain.id)
        ):
            domains.setdefault(int(account_id), []).append(domain)
        for account_id, name, email in session.execute(
            select(Account.id, Account.name, owner.email)
            .outerjoin(owner, owner.id == Account.owner_id)
            .where(Account.id.in_(chunk))
        ):
            records.append(
                AccountRecord(int(account_id), name, tuple(domains.get(int(account_id), ())), email)
            )
    return records


def _opportunities(session: Session, condition: object) -> list[OpportunityRecord]:
    owner = aliased(User)
    rows = session.execute(
        select(
            Opportunity.id,
            Opportunity.code,
            Opportunity.name,
            Opportunity.account_id,
            Opportunity.status,
            Opportunity.stage,
            owner.email,
        )
        .outerjoin(owner, owner.id == Opportunity.owner_id)
        .where(condition)  # type: ignore[arg-type]
    )
    return [
        OpportunityRecord(int(i), code, name, int(account_id), status, stage, email)  # type: ignore[arg-type]
        for i, code, name, account_id, status, stage, email in rows
    ]


def link_specs(result: LinkResult) -> tuple[LinkSpec, ...]:
    return getattr(result, "links", ())
