"""The in-memory CRM index the matchers read: plain records and O(1) lookups.

The index is built once from the store and then kept current with ``upsert_*``
and ``remove_*`` calls as CRM records change, so the cost of matching one
message depends on the message, not on how many contacts the CRM holds. Every
key is normalised on the way in (addresses and domains lower-case, codes
upper-case, account names case-folded) so lookups never normalise twice.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class OpportunityStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class ContactRecord:
    id: int
    name: str
    emails: tuple[str, ...]
    account_id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "emails", tuple(_addr(e) for e in self.emails if e.strip()))


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    name: str
    domains: tuple[str, ...] = ()
    owner_email: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "domains", tuple(_domain(d) for d in self.domains if d.strip()))
        if self.owner_email:
            object.__setattr__(self, "owner_email", _owner(self.owner_email))


@dataclass(frozen=True, slots=True)
class OpportunityRecord:
    id: int
    code: str
    name: str
    account_id: int
    status: OpportunityStatus = OpportunityStatus.OPEN
    stage: str = ""
    owner_email: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", self.code.strip().upper())
        object.__setattr__(self, "status", OpportunityStatus(self.status))
        if self.owner_email:
            object.__setattr__(self, "owner_email", _owner(self.owner_email))

    @property
    def is_open(self) -> bool:
        return self.status is OpportunityStatus.OPEN


class AccountSlot:
    """One account as the hot path reaches it: the record and its open deals, one hop away.

    With a million contacts every dict probe and every object visited is a
    likely cache miss (~0.3 µs here). A contact's address leads through its
    ``ContactHit`` straight to this slot, so the participant matcher and
    inference need no probe of ``accounts`` or ``open_opportunities_by_account``.
    A slot exists for every account id any contact or opportunity names (the
    record may be missing, as in the store between two writes) and is updated
    in place, so hits pointing at it never go stale.

    ``sole_open_owner`` is the owner every open deal here shares (None when
    they have several owners, one has none, or there are none): inference
    then turns away another rep's account without visiting its deals, and
    ``only_open`` (the one open deal, if just one) spares it the tuple.
    """

    __slots__ = ("id", "only_open", "open_opportunities", "record", "sole_open_owner")

    def __init__(self, account_id: int) -> None:
        self.id = account_id
        self.record: AccountRecord | None = None
        self.open_opportunities: tuple[OpportunityRecord, ...] = ()
        self.sole_open_owner: str | None = None
        self.only_open: OpportunityRecord | None = None

    def set_open_opportunities(self, opportunities: Iterable[OpportunityRecord]) -> None:
        """Kept in code order, the order inference offers several as suggestions in."""
        self.open_opportunities = tuple(sorted(opportunities, key=_by_code))
        owners = {o.owner_email for o in self.open_opportunities}
        self.sole_open_owner = owners.pop() if len(owners) == 1 else None
        self.only_open = self.open_opportunities[0] if len(self.open_opportunities) == 1 else None

    @property
    def name(self) -> str:
        return self.record.name if self.record is not None else f"#{self.id}"


class ContactHit:
    """What one contact address resolves to: the record, its id and account slot.

    Built when the contact is indexed (not per message); the matcher reads the
    id and the slot from it without visiting the record or probing another dict.
    """

    __slots__ = ("account", "id", "record")

    def __init__(self, record: ContactRecord, account: AccountSlot | None) -> None:
        self.record = record
        self.id = record.id
        self.account = account


class OpportunityHit:
    """What one tracking code resolves to: the record, its id and account slot.

    The code matcher links the deal and its account from one probe, instead of
    three (code → id, id → record, account id → slot), each a likely cache miss
    in a large CRM. Rebuilt whenever the opportunity is upserted.
    """

    __slots__ = ("account", "id", "record")

    def __init__(self, record: OpportunityRecord, account: AccountSlot) -> None:
        self.record = record
        self.id = record.id
        self.account = account


def _by_code(opportunity: OpportunityRecord) -> str:
    return opportunity.code


def _addr(value: str) -> str:
    return value.strip().lower()


def _owner(value: str) -> str:
    """Owners are few and compared on every inference: one shared string each."""
    return sys.intern(_addr(value))


def _domain(value: str) -> str:
    return value.strip().lower().lstrip("@").rstrip(".")


@dataclass(slots=True)
class CrmIndex:
    """Everything the matchers look up, keyed the way they look it up.

    ``internal_domains`` and ``user_emails`` describe our own company: mail
    only among them is internal, and their domains never map to an account.
    """

    contacts: dict[int, ContactRecord] = field(default_factory=dict)
    accounts: dict[int, AccountRecord] = field(default_factory=dict)
    opportunities: dict[int, OpportunityRecord] = field(default_factory=dict)
    contact_by_email: dict[str, ContactHit] = field(default_factory=dict)
    account_by_name: dict[str, int] = field(default_factory=dict)
    accounts_by_domain: dict[str, set[int]] = field(default_factory=dict)
    # The matcher's view of accounts_by_domain: the one owner, or None when shared.
    account_of_domain: dict[str, AccountSlot | None] = field(default_factory=dict)
    opportunity_by_code: dict[str, OpportunityHit] = field(default_factory=dict)
    open_opportunities_by_account: dict[int, dict[int, OpportunityRecord]] = field(
        default_factory=dict
    )
    internal_domains: set[str] = field(default_factory=set)
    # Change through add_/remove_/replace_user_emails: users_not_contacts follows it.
    user_emails: set[str] = field(default_factory=set)
    # Our users' addresses that belong to no contact. Every message has its mailbox
    # owner among its participants; the participant matcher passes these over
    # without probing contact_by_email, which with a million contacts is a cache
    # miss or two per probe.
    users_not_contacts: set[str] = field(default_factory=set, repr=False)
    account_slots: dict[int, AccountSlot] = field(default_factory=dict, repr=False)
    # Keys claimed by more than one record, with every claimant, oldest first. The
    # store keeps emails, codes and names unique, but updates can reach the index
    # out of order (Bob takes Jane's address before Jane's record drops it); when
    # the record a key points at lets go, the key falls back to the other claimant
    # instead of vanishing. Only contested keys are kept, so this costs ~nothing.
    _email_claims: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _code_claims: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _name_claims: dict[str, list[int]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        *,
        accounts: Iterable[AccountRecord] = (),
        contacts: Iterable[ContactRecord] = (),
        opportunities: Iterable[OpportunityRecord] = (),
        user_emails: Iterable[str] = (),
        internal_domains: Iterable[str] = (),
    ) -> CrmIndex:
        index = cls()
        for account in accounts:
            index.upsert_account(account)
        for contact in contacts:
            index.upsert_contact(contact)
        for opportunity in opportunities:
            index.upsert_opportunity(opportunity)
        for email in user_emails:
            index.add_user_email(email)
        for domain in internal_domains:
            index.add_internal_domain(domain)
        return index

    # ------------------------------------------------------------------ contacts

    def upsert_contact(self, contact: ContactRecord) -> None:
        old = self.contacts.get(contact.id)
        if old is not None:
            self._unmap_contact_emails(old)
        self.contacts[contact.id] = contact
        hit = self._hit(contact)
        for email in contact.emails:
            current = self.contact_by_email.get(email)
            _claim(self._email_claims, email, current.record.id if current else None, contact.id)
            self.contact_by_email[email] = hit
            self._refresh_user(email)

    def _hit(self, contact: ContactRecord) -> ContactHit:
        account_id = contact.account_id
        return ContactHit(contact, None if account_id is None else self._slot(account_id))

    def _slot(self, account_id: int) -> AccountSlot:
        slot = self.account_slots.get(account_id)
        if slot is None:
            slot = self.account_slots[account_id] = AccountSlot(account_id)
            slot.record = self.accounts.get(account_id)
            slot.set_open_opportunities(
                self.open_opportunities_by_account.get(account_id, {}).values()
            )
        return slot

    def remove_contact(self, contact_id: int) -> None:
        old = self.contacts.pop(contact_id, None)
        if old is not None:
            self._unmap_contact_emails(old)

    def add_contact_email(self, contact_id: int, email: str) -> None:
        contact = self.contacts[contact_id]
        address = _addr(email)
        if address not in contact.emails:
            self.upsert_contact(
                ContactRecord(
                    contact.id, contact.name, (*contact.emails, address), contact.account_id
                )
            )

    def remove_contact_email(self, contact_id: int, email: str) -> None:
        contact = self.contacts[contact_id]
        address = _addr(email)
        rest = tuple(e for e in contact.emails if e != address)
        self.upsert_contact(ContactRecord(contact.id, contact.name, rest, contact.account_id))

    def _unmap_contact_emails(self, contact: ContactRecord) -> None:
        for email in contact.emails:
            # Another contact may have taken the address since; leave theirs alone.
            heir = _release(self._email_claims, email, contact.id)
            current = self.contact_by_email.get(email)
            if current is not None and current.record.id == contact.id:
                if heir is None:
                    del self.contact_by_email[email]
                    self._refresh_user(email)
                else:
                    self.contact_by_email[email] = self._hit(self.contacts[heir])

    # ------------------------------------------------------------------ accounts

    def upsert_account(self, account: AccountRecord) -> None:
        old = self.accounts.get(account.id)
        if old is not None:
            self._unmap_account(old)
        self.accounts[account.id] = account
        self._slot(account.id).record = account
        key = account.name.casefold()
        _claim(self._name_claims, key, self.account_by_name.get(key), account.id)
        self.account_by_name[key] = account.id
        for domain in account.domains:
            self.accounts_by_domain.setdefault(domain, set()).add(account.id)
            self._refresh_domain(domain)

    def remove_account(self, account_id: int) -> None:
        old = self.accounts.pop(account_id, None)
        if old is not None:
            self._unmap_account(old)
            self._slot(account_id).record = None

    def add_account_domain(self, account_id: int, domain: str) -> None:
        account = self.accounts[account_id]
        name = _domain(domain)
        if name not in account.domains:
            self.upsert_account(
                AccountRecord(
                    account.id, account.name, (*account.domains, name), account.owner_email
                )
            )

    def remove_account_domain(self, account_id: int, domain: str) -> None:
        account = self.accounts[account_id]
        name = _domain(domain)
        rest = tuple(d for d in account.domains if d != name)
        self.upsert_account(AccountRecord(account.id, account.name, rest, account.owner_email))

    def _unmap_account(self, account: AccountRecord) -> None:
        key = account.name.casefold()
        heir = _release(self._name_claims, key, account.id)
        if self.account_by_name.get(key) == account.id:
            if heir is None:
                del self.account_by_name[key]
            else:
                self.account_by_name[key] = heir
        for domain in account.domains:
            owners = self.accounts_by_domain.get(domain)
            if owners is not None:
                owners.discard(account.id)
                if not owners:
                    del self.accounts_by_domain[domain]
                self._refresh_domain(domain)

    def _refresh_domain(self, domain: str) -> None:
        owners = self.accounts_by_domain.get(domain)
        if not owners:
            self.account_of_domain.pop(domain, None)
        elif len(owners) == 1:
            self.account_of_domain[domain] = self._slot(next(iter(owners)))
        else:
            self.account_of_domain[domain] = None

    # ------------------------------------------------------------------ opportunities

    def upsert_opportunity(self, opportunity: OpportunityRecord) -> None:
        old = self.opportunities.get(opportunity.id)
        if old is not None:
            self._unmap_opportunity(old)
        self.opportunities[opportunity.id] = opportunity
        code = opportunity.code
        current = self.opportunity_by_code.get(code)
        _claim(self._code_claims, code, current.record.id if current else None, opportunity.id)
        slot = self._slot(opportunity.account_id)
        self.opportunity_by_code[code] = OpportunityHit(opportunity, slot)
        if opportunity.is_open:
            by_id = self.open_opportunities_by_account.setdefault(opportunity.account_id, {})
            by_id[opportunity.id] = opportunity
            slot.set_open_opportunities(by_id.values())

    def remove_opportunity(self, opportunity_id: int) -> None:
        old = self.opportunities.pop(opportunity_id, None)
        if old is not None:
            self._unmap_opportunity(old)

    def _unmap_opportunity(self, opportunity: OpportunityRecord) -> None:
        heir = _release(self._code_claims, opportunity.code, opportunity.id)
        current = self.opportunity_by_code.get(opportunity.code)
        if current is not None and current.record.id == opportunity.id:
            if heir is None:
                del self.opportunity_by_code[opportunity.code]
            else:
                found = self.opportunities[heir]
                self.opportunity_by_code[opportunity.code] = OpportunityHit(
                    found, self._slot(found.account_id)
                )
        open_ones = self.open_opportunities_by_account.get(opportunity.account_id)
        if open_ones is not None:
            open_ones.pop(opportunity.id, None)
            if not open_ones:
                del self.open_opportunities_by_account[opportunity.account_id]
            self._slot(opportunity.account_id).set_open_opportunities(open_ones.values())

    # ------------------------------------------------------------------ our own company

    def add_user_email(self, email: str) -> None:
        address = _addr(email)
        self.user_emails.add(address)
        self._refresh_user(address)

    def remove_user_email(self, email: str) -> None:
        address = _addr(email)
        self.user_emails.discard(address)
        self._refresh_user(address)

    def replace_user_emails(self, emails: Iterable[str]) -> None:
        """Our users are now exactly ``emails`` (the live index's users-changed patch)."""
        self.user_emails = {_addr(e) for e in emails if e.strip()}
        self.users_not_contacts = {e for e in self.user_emails if e not in self.contact_by_email}

    def _refresh_user(self, address: str) -> None:
        if address in self.user_emails and address not in self.contact_by_email:
            self.users_not_contacts.add(address)
        else:
            self.users_not_contacts.discard(address)

    def add_internal_domain(self, domain: str) -> None:
        self.internal_domains.add(_domain(domain))

    def remove_internal_domain(self, domain: str) -> None:
        self.internal_domains.discard(_domain(domain))

    # ------------------------------------------------------------------ lookups

    def contact_for(self, address: str) -> ContactRecord | None:
        """Email → record directly (no id hop): one dict probe per participant."""
        hit = self.contact_by_email.get(address)
        return None if hit is None else hit.record

    def opportunity_for_code(self, code: str) -> OpportunityRecord | None:
        hit = self.opportunity_by_code.get(code.upper())
        return None if hit is None else hit.record

    def account_for_name(self, name: str) -> AccountRecord | None:
        account_id = self.account_by_name.get(name.casefold())
        return None if account_id is None else self.accounts[account_id]

    def is_internal(self, address: str) -> bool:
        return address in self.user_emails or address.rpartition("@")[2] in self.internal_domains

    def open_opportunities(self, account_id: int) -> Iterator[OpportunityRecord]:
        return iter(self.open_opportunities_by_account.get(account_id, {}).values())


def _claim(claims: dict[str, list[int]], key: str, holder: int | None, record_id: int) -> None:
    """Note a second (third, ...) record claiming a key ``holder`` already has."""
    if holder is None or holder == record_id:
        return
    owners = claims.setdefault(key, [holder])
    if record_id not in owners:
        owners.append(record_id)


def _release(claims: dict[str, list[int]], key: str, record_id: int) -> int | None:
    """Drop one claim; the most recent remaining claimant, or None when none is left."""
    owners = claims.get(key)
    if owners is None:
        return None
    if record_id in owners:
        owners.remove(record_id)
    if len(owners) <= 1:
        del claims[key]
    return owners[-1] if owners else None
