"""Search CRM records to link to, and create a contact from an unknown sender."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from crm_store.items import TargetKind
from mailsync.retro_linking import relink_after_change
from rules import CrmChange
from web.deps import CurrentUser, DbSession, Rules, WriteSession, WritingUser
from web.errors import InvalidInput
from web.records import SEARCH_LIMIT_MAX, create_contact_from_sender, search_records
from web.schemas.common import find_unstorable
from web.schemas.records import ContactCreate, ContactCreated, SearchResults

router = APIRouter(tags=["records"])


@router.get(
    "/records/search",
    response_model=SearchResults,
    summary="Accounts, contacts and opportunities by name, code, email or domain",
)
def search(
    session: DbSession,
    user: CurrentUser,
    q: Annotated[str, Query(min_length=2, max_length=200, description="Text to look for")],
    kind: Annotated[
        list[TargetKind] | None, Query(description="Only these kinds (repeatable); default all")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=SEARCH_LIMIT_MAX)] = 20,
) -> SearchResults:
    if find_unstorable(q, "q") is not None:
        raise InvalidInput("q", "contains a NUL character or an unpaired surrogate")
    if not q.strip():
        raise InvalidInput("q", "is blank")
    kinds = kind or [TargetKind.OPPORTUNITY, TargetKind.ACCOUNT, TargetKind.CONTACT]
    return SearchResults(query=q.strip(), hits=search_records(session, q, kinds, limit))


@router.post(
    "/contacts",
    response_model=ContactCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a contact from a sender; the account is inferred from the domain",
)
def create_contact(
    body: ContactCreate, session: WriteSession, user: WritingUser, rules: Rules
) -> ContactCreated:
    created = create_contact_from_sender(session, body)
    # Mail from this sender that matched nothing so far is linked now, in the same commit.
    relink_after_change(
        session,
        CrmChange.of(addresses=[body.email]),
        settings=rules.settings,
        index_for=lambda s, addresses, codes: rules.load_slice(s, addresses, codes).index,
        now=datetime.now(UTC),
        ruleset=rules.ruleset,
    )
    return created
