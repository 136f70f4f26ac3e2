"""GET /lookup: who the people on an item are in the CRM, and what the rules would link.

The task pane calls this for every item a salesperson opens, so it is the
one hot route and is kept lean on purpose:

- it is ``async``: the sign-in is usually answered from the authenticator's
  memory on the event loop, and everything that blocks (a sign-in the memory
  does not hold, the store read, the rules, the JSON) runs in ONE thread-pool
  hop instead of one per dependency;
- the store is read with one statement on an autocommit connection
  (``crm_store.record_reach`` through ``web.hot_reads``): one round trip;
- the answer is built as plain JSON-ready data and sent as it is. FastAPI
  would otherwise validate it again against ``LookupResult``, which stays the
  route's documented ``response_model``; a test checks every answer against it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query
from fastapi.responses import Response
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from crm_store.database import session_scope
from crm_store.items import Address, MessageItem, TargetKind
from mailsync.addresses import normalise_email
from rules import CrmIndex, Linked
from web.auth.principal import Authentication
from web.crm_slice import CrmSlice
from web.deps import Credentials, State, schedule_sign_in_writes
from web.errors import InvalidInput
from web.rules_context import RulesContext
from web.schemas.common import MAX_ADDRESSES
from web.schemas.lookup import LookupResult
from web.state import WebState

router = APIRouter(tags=["lookup"])

LOOKUP_FOLDER = "lookup"

JsonObject = dict[str, Any]


@router.get(
    "/lookup",
    response_model=LookupResult,
    summary="Contacts, accounts, open opportunities and suggested links for addresses",
)
async def lookup(
    state: State,
    token: Credentials,
    later: BackgroundTasks,
    address: Annotated[
        list[str],
        Query(
            min_length=1,
            max_length=MAX_ADDRESSES,
            description="An email address on the item (repeat for each; sender first).",
        ),
    ],
) -> Response:
    addresses = _normalised(address)
    recent = state.authenticator.recent(token)
    authentication, body = await run_in_threadpool(_answer, state, token, recent, addresses)
    schedule_sign_in_writes(state, authentication, later)
    return Response(content=body, media_type="application/json")


def _answer(
    state: WebState, token: str, recent: Authentication | None, addresses: list[str]
) -> tuple[Authentication, bytes]:
    """Sign in if the memory did not know the token, read, run the rules, encode: one hop."""
    if recent is None:
        with session_scope(state.sessions) as session:
            recent = state.authenticator.sign_in(session, token)
    rules = state.rules
    signed_in = recent.principal.email

    def read(connection: Connection) -> CrmSlice:
        return rules.load_slice(connection, addresses, ours=signed_in)

    crm = state.hot_reads.run(read)
    body = lookup_body(rules, crm, addresses, signed_in)
    return recent, json.dumps(body, separators=(",", ":"), default=_decimal).encode()


def lookup_body(
    rules: RulesContext, crm: CrmSlice, addresses: list[str], mailbox_owner: str
) -> JsonObject:
    """The ``LookupResult`` for these (normalised, sender-first) addresses, as JSON data."""
    index = crm.index
    records = crm.records
    item = MessageItem(
        provider_item_id=LOOKUP_FOLDER,
        folder=LOOKUP_FOLDER,
        internet_message_id=None,
        subject="",
        sent_at=None,
        sender=Address(addresses[0]),
        to=tuple(Address(a) for a in addresses[1:]),
    )
    result = rules.evaluate(session=None, crm=crm, item=item, mailbox_owner=mailbox_owner)
    suggested: list[JsonObject] = []
    if isinstance(result, Linked):
        names = _names(index)
        suggested.extend(
            _suggestion(link.target_kind, link.target_id, names, link.evidence, certain=True)
            for link in result.links
        )
        suggested.extend(
            _suggestion(s.target_kind, s.target_id, names, s.reason, certain=False)
            for s in result.suggestions
        )
    matches: list[JsonObject] = []
    for value in addresses:
        contact = crm.contact_for(value)
        if crm.is_internal(value):
            contact_id, account_id, how = None, None, "internal"
        elif contact is not None:
            contact_id, account_id, how = contact.id, contact.account_id, "contact"
        else:
            domain = value.rpartition("@")[2]
            account = None if domain in rules.free_mail else index.account_of_domain.get(domain)
            contact_id = None
            account_id = account.id if account else None
            how = "domain" if account else "unknown"
        matches.append(
            {"address": value, "contactId": contact_id, "accountId": account_id, "how": how}
        )
    rank = {
        s["targetId"]: n
        for n, s in enumerate(
            s for s in suggested if s["targetKind"] == TargetKind.OPPORTUNITY.value
        )
    }
    opportunities = sorted(
        (o for o in records.opportunities.values() if o.status == "open"),
        key=lambda o: (rank.get(o.id, len(rank)), o.code),
    )
    contact_ids = dict.fromkeys(m["contactId"] for m in matches if m["contactId"] is not None)
    account_ids = dict.fromkeys(
        [m["accountId"] for m in matches if m["accountId"] is not None] + sorted(records.accounts)
    )
    contacts = [records.contacts[i] for i in contact_ids if i in records.contacts]
    accounts = [records.accounts[i] for i in account_ids if i in records.accounts]
    return {
        "addresses": matches,
        "contacts": [
            {
                "id": c.id,
                "name": c.name,
                "firstName": c.first_name,
                "lastName": c.last_name,
                "title": c.title,
                "emails": c.emails,
                "accountId": c.account_id,
            }
            for c in contacts
        ],
        "accounts": [
            {"id": a.id, "name": a.name, "domains": a.domains, "ownerEmail": a.owner_email}
            for a in accounts
        ],
        "opportunities": [
            {
                "id": o.id,
                "code": o.code,
                "name": o.name,
                "accountId": o.account_id,
                "stage": o.stage,
                "status": o.status,
                "amount": o.amount,
                "currency": o.currency,
                "ownerEmail": o.owner_email,
            }
            for o in opportunities
        ],
        "suggestedLinks": suggested,
    }


def _suggestion(
    kind: TargetKind,
    ident: int,
    names: dict[tuple[TargetKind, int], str],
    reason: str,
    *,
    certain: bool,
) -> JsonObject:
    return {
        "targetKind": kind.value,
        "targetId": ident,
        "targetName": names.get((kind, ident), ""),
        "reason": reason,
        "certain": certain,
    }


def _decimal(value: object) -> str:
    """Amounts travel as strings, as pydantic writes ``Decimal`` (no float rounding)."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


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
