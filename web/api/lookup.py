"""GET /lookup: who the people on an item are in the CRM, and what the rules would link."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crm_store.items import Address, MessageItem, TargetKind
from mailsync.addresses import normalise_email
from rules import CrmIndex, Linked
from rules.free_mail import shipped_free_mail_domains
from web.deps import CurrentUser, DbSession, Rules
from web.errors import InvalidInput
from web.schemas.common import MAX_ADDRESSES
from web.schemas.lookup import AddressMatch, LookupResult, SuggestedLink

router = APIRouter(tags=["lookup"])

LOOKUP_FOLDER = "lookup"


@router.get(
    "/lookup",
    response_model=LookupResult,
    summary="Contacts, accounts, open opportunities and suggested links for addresses",
)
def lookup(
    session: DbSession,
    user: CurrentUser,
    rules: Rules,
    address: Annotated[
        list[str],
        Query(
            min_length=1,
            max_length=MAX_ADDRESSES,
            description="An email address on the item (repeat for each; sender first).",
        ),
    ],
) -> LookupResult:
    addresses = _normalised(address)
    crm = rules.load_slice(session, addresses)
    index = crm.index
    item = MessageItem(
        provider_item_id=LOOKUP_FOLDER,
        folder=LOOKUP_FOLDER,
        internet_message_id=None,
        subject="",
        sent_at=None,
        sender=Address(addresses[0]),
        to=tuple(Address(a) for a in addresses[1:]),
    )
    result = rules.evaluate(session=None, crm=crm, item=item, mailbox_owner=user.email)
    suggested: list[SuggestedLink] = []
    if isinstance(result, Linked):
        names = _names(index)
        suggested.extend(
            SuggestedLink(
                target_kind=link.target_kind,
                target_id=link.target_id,
                target_name=names.get((link.target_kind, link.target_id), ""),
                reason=link.evidence,
                certain=True,
            )
            for link in result.links
        )
        suggested.extend(
            SuggestedLink(
                target_kind=s.target_kind,
                target_id=s.target_id,
                target_name=names.get((s.target_kind, s.target_id), ""),
                reason=s.reason,
                certain=False,
            )
            for s in result.suggestions
        )
    free_mail = shipped_free_mail_domains()
    matches: list[AddressMatch] = []
    for value in addresses:
        contact = crm.contact_for(value)
        domain = value.rpartition("@")[2]
        if index.is_internal(value):
            matches.append(
                AddressMatch(address=value, contact_id=None, account_id=None, how="internal")
            )
        elif contact is not None:
            matches.append(
                AddressMatch(
                    address=value,
                    contact_id=contact.id,
                    account_id=contact.account_id,
                    how="contact",
                )
            )
        else:
            account = None if domain in free_mail else index.account_of_domain.get(domain)
            matches.append(
                AddressMatch(
                    address=value,
                    contact_id=None,
                    account_id=account.id if account else None,
                    how="domain" if account else "unknown",
                )
            )
    preferred = [s.target_id for s in suggested if s.target_kind is TargetKind.OPPORTUNITY]
    rank = {ident: n for n, ident in enumerate(preferred)}
    opportunities = sorted(
        (o for o in crm.opportunities.values() if o.status == "open"),
        key=lambda o: (rank.get(o.id, len(rank)), o.code),
    )
    contact_ids = dict.fromkeys(m.contact_id for m in matches if m.contact_id is not None)
    account_ids = dict.fromkeys(
        [m.account_id for m in matches if m.account_id is not None] + sorted(crm.accounts)
    )
    return LookupResult(
        addresses=matches,
        contacts=[crm.contacts[i] for i in contact_ids if i in crm.contacts],
        accounts=[crm.accounts[i] for i in account_ids if i in crm.accounts],
        opportunities=opportunities,
        suggested_links=suggested,
    )


def _normalised(values: list[str]) -> list[str]:
    out: list[str] = []
    for n, value in enumerate(values):
        try:
            out.append(normalise_email(value))
        except ValueError as exc:
            raise InvalidInput(f"address[{n}]", str(exc)) from None
    return list(dict.fromkeys(out))


def _names(index: CrmIndex) -> dict[tuple[TargetKind, int], str]:
    names: dict[tuple[TargetKind, int], str] = {}
    names.update({(TargetKind.ACCOUNT, i): a.name for i, a in index.accounts.items()})
    names.update({(TargetKind.CONTACT, i): c.name for i, c in index.contacts.items()})
    names.update(
        {(TargetKind.OPPORTUNITY, i): f"{o.code} {o.name}" for i, o in index.opportunities.items()}
    )
    return names
