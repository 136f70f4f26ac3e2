"""Incremental upkeep of the index ends where a fresh build of the final records ends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules import AccountRecord, ContactRecord, CrmIndex, OpportunityRecord, OpportunityStatus

IDS = st.integers(min_value=1, max_value=6)
EMAILS = st.sampled_from(["a@x.com", "b@x.com", "c@y.com", "d@y.com", "e@z.org"])
DOMAINS = st.sampled_from(["x.com", "y.com", "z.org", "w.net"])
NAMES = st.sampled_from(["Acme", "Globex", "Initech", "Umbrella"])

contacts = st.builds(
    ContactRecord,
    IDS,
    st.just("C"),
    st.lists(EMAILS, max_size=2).map(tuple),
    st.none() | IDS,
)
accounts = st.builds(AccountRecord, IDS, NAMES, st.lists(DOMAINS, max_size=2).map(tuple))
opportunities = st.builds(
    OpportunityRecord,
    IDS,
    st.sampled_from(["OPP-1", "OPP-2", "OPP-3"]),
    st.just("O"),
    IDS,
    st.sampled_from(list(OpportunityStatus)),
    owner_email=st.sampled_from([None, "rep1@us.example", "rep2@us.example"]),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), contacts),
        st.tuples(st.just("upsert"), accounts),
        st.tuples(st.just("upsert"), opportunities),
        st.tuples(st.sampled_from(["rm_contact", "rm_account", "rm_opportunity"]), IDS),
        st.tuples(st.sampled_from(["add_user", "rm_user"]), EMAILS),
    ),
    max_size=25,
)


def apply(index: CrmIndex, operation: tuple[str, object]) -> None:
    verb, value = operation
    if verb == "upsert":
        if isinstance(value, ContactRecord):
            index.upsert_contact(value)
        elif isinstance(value, AccountRecord):
            index.upsert_account(value)
        elif isinstance(value, OpportunityRecord):
            index.upsert_opportunity(value)
    elif verb == "rm_contact" and isinstance(value, int):
        index.remove_contact(value)
    elif verb == "rm_account" and isinstance(value, int):
        index.remove_account(value)
    elif verb == "rm_opportunity" and isinstance(value, int):
        index.remove_opportunity(value)
    elif verb == "add_user" and isinstance(value, str):
        index.add_user_email(value)
    elif verb == "rm_user" and isinstance(value, str):
        index.remove_user_email(value)


def unique_owner_view(index: CrmIndex) -> dict[str, int | None]:
    return {d: (a.id if a else None) for d, a in index.account_of_domain.items()}


@settings(max_examples=300, deadline=None)
@given(operations)
def test_incremental_updates_equal_a_rebuild(ops: list[tuple[str, object]]) -> None:
    # GIVEN any sequence of upserts and removals applied one by one
    live = CrmIndex()
    for operation in ops:
        apply(live, operation)
    # WHEN the surviving records are indexed from scratch
    rebuilt = CrmIndex.build(
        accounts=live.accounts.values(),
        contacts=live.contacts.values(),
        opportunities=live.opportunities.values(),
        user_emails=live.user_emails,
    )
    # THEN every lookup the matchers use agrees (addresses and codes may be shared by
    # two records in this generator: then both indexes must point at a record that has it)
    assert live.accounts_by_domain == rebuilt.accounts_by_domain
    assert unique_owner_view(live) == unique_owner_view(rebuilt)
    assert {a: set(o) for a, o in live.open_opportunities_by_account.items()} == {
        a: set(o) for a, o in rebuilt.open_opportunities_by_account.items()
    }
    assert set(live.contact_by_email) == set(rebuilt.contact_by_email)
    for email, hit in live.contact_by_email.items():
        assert email in live.contacts[hit.record.id].emails
        # AND the hit's account slot (the matchers' shortcut) shows the account as it is now
        if hit.record.account_id is None:
            assert hit.account is None
        else:
            assert hit.account is not None and hit.account.id == hit.record.account_id
            assert hit.account.record == live.accounts.get(hit.account.id)
            assert set(hit.account.open_opportunities) == set(
                rebuilt.open_opportunities_by_account.get(hit.account.id, {}).values()
            )
            owners = {o.owner_email for o in hit.account.open_opportunities}
            assert hit.account.sole_open_owner == (owners.pop() if len(owners) == 1 else None)
            open_here = hit.account.open_opportunities
            assert hit.account.only_open == (open_here[0] if len(open_here) == 1 else None)
    for opportunity in live.opportunities.values():
        slot = live.account_slots[opportunity.account_id]
        assert slot.record == live.accounts.get(opportunity.account_id)
    assert set(live.opportunity_by_code) == set(rebuilt.opportunity_by_code)
    for code, code_hit in live.opportunity_by_code.items():
        # AND a code's hit holds the opportunity as it is now, and its account's slot
        assert live.opportunities[code_hit.record.id] is code_hit.record
        assert code_hit.record.code == code
        assert code_hit.account is live.account_slots[code_hit.record.account_id]
    # AND our users no contact has are exactly those the participant matcher skips
    assert live.users_not_contacts == live.user_emails - set(live.contact_by_email)
    assert live.users_not_contacts == rebuilt.users_not_contacts
    assert set(live.account_by_name) == set(rebuilt.account_by_name)
