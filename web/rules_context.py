"""The rules as the web service runs them: on a slice of the CRM, read per request.

The daemon keeps the whole CRM in memory; a web process does not need to
(and must not go stale when another process imports contacts). For one item
or a handful of addresses only a few records can match: the contacts with
those addresses, the accounts of those contacts and domains, their open
opportunities, opportunities whose code appears in the text, and the records
the configured custom rules name. We read exactly those, build a small
``CrmIndex`` and hand it to the pure engine with the same settings and custom
rules the daemon runs, so suggestions here are what the daemon would link.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from crm_store.items import CorrespondenceItem, TargetKind
from mailsync.rules_context import StoreThreadLookup, rules_settings_from
from rules import LinkResult, RulesEngine, RulesSettings, TargetRef
from rules.custom.actions import LinkRecord
from rules.custom.ruleset import EMPTY_RULESET, RuleSet
from rules.free_mail import free_mail_domains
from rules.tracking_code import CodeScanner
from web.crm_slice import CrmSlice, load_slice

MAX_CODES = 50

__all__ = ["MAX_CODES", "RulesContext", "StoreThreadLookup", "rules_settings_from"]


@dataclass(frozen=True, slots=True)
class NamedRecords:
    """Records custom rules link by name: they must be in every slice for the rule to fire."""

    codes: tuple[str, ...] = ()
    account_names: tuple[str, ...] = ()
    contact_addresses: tuple[str, ...] = ()

    @classmethod
    def of(cls, ruleset: RuleSet) -> NamedRecords:
        actions = [
            action
            for rule in ruleset.active
            for action in rule.actions
            if isinstance(action, LinkRecord)
        ]

        def keys(kind: TargetKind) -> tuple[str, ...]:
            return tuple(sorted({a.key for a in actions if a.kind is kind}))

        return cls(
            codes=tuple(c.upper() for c in keys(TargetKind.OPPORTUNITY)),
            account_names=keys(TargetKind.ACCOUNT),
            contact_addresses=tuple(a.lower() for a in keys(TargetKind.CONTACT)),
        )


class RulesContext:
    """Built once per app (settings, custom rules, code pattern); each request reads its slice."""

    def __init__(
        self,
        settings: RulesSettings,
        internal_domains: Iterable[str],
        ruleset: RuleSet = EMPTY_RULESET,
        configured_mailboxes: Iterable[str] = (),
    ) -> None:
        self.settings = settings
        self.ruleset = ruleset
        self.internal_domains = tuple(internal_domains)
        # By domain: a lookup needs only those at its addresses' domains, not all of them.
        self._mailboxes_at: dict[str, list[str]] = {}
        for address in configured_mailboxes:
            mailbox = address.strip().lower()
            self._mailboxes_at.setdefault(mailbox.rpartition("@")[2], []).append(mailbox)
        self.named = NamedRecords.of(ruleset)
        self.free_mail = free_mail_domains(settings.extra_free_mail_domains)
        self._scanner = CodeScanner(settings.tracking_code_pattern)

    def codes_in(self, *texts: str | None) -> list[str]:
        found: list[str] = []
        for text in texts:
            if text:
                found.extend(self._scanner.codes(text))
        return sorted({code.upper() for code in found})[:MAX_CODES]

    def load_slice(
        self,
        reader: Session | Connection,
        addresses: Collection[str],
        codes: Sequence[str] = (),
        *,
        ours: str | None = None,
    ) -> CrmSlice:
        """``ours``: the signed-in user's (or the mailbox owner's) address.

        It is ours without a read, and its domain is the company's own on nearly
        every item the user opens: passing it settles that domain, so the slice
        does not bring back every colleague there even where neither
        ``internal_domains`` nor ``[[mailboxes]]`` is configured.
        """
        connection = reader.connection() if isinstance(reader, Session) else reader
        domains = {a.strip().lower().rpartition("@")[2] for a in addresses}
        known = [mailbox for domain in domains for mailbox in self._mailboxes_at.get(domain, ())]
        if ours:
            known.append(ours)
        return load_slice(
            connection,
            [*addresses, *self.named.contact_addresses],
            [*codes, *self.named.codes],
            self.internal_domains,
            self.named.account_names,
            configured_addresses=known,
            free_mail_domains=self.free_mail,
        )

    def engine(self, crm: CrmSlice, session: Session | None) -> RulesEngine:
        lookup = StoreThreadLookup(session) if session is not None else None
        return RulesEngine(crm.index, self.settings, self.ruleset, thread_lookup=lookup)

    def evaluate(
        self,
        session: Session | None,
        crm: CrmSlice,
        item: CorrespondenceItem,
        *,
        mailbox_owner: str | None,
        suppressed: Collection[TargetRef] = (),
    ) -> LinkResult:
        engine = self.engine(crm, session)
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
        crm = self.load_slice(
            session, addresses, self.codes_in(item.subject, body), ours=mailbox_owner
        )
        result = self.evaluate(
            session, crm, item, mailbox_owner=mailbox_owner, suppressed=suppressed
        )
        return result, crm
