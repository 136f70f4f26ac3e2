"""The CRM index is updated incrementally and its lookups follow every change."""

from __future__ import annotations

from rules_factories import make_index

from rules import AccountRecord, ContactRecord, OpportunityRecord


def test_contact_upsert_replaces_old_addresses() -> None:
    # GIVEN Jane with two addresses
    index = make_index()
    # WHEN her record is upserted with one new address only
    index.upsert_contact(ContactRecord(10, "Jane Doe", ("jane.doe@acme.com",), 1))
    # THEN the old addresses no longer resolve, the new one does
    assert index.contact_for("jane@acme.com") is None
    assert index.contact_for("j.doe@acme-mail.com") is None
    found = index.contact_for("jane.doe@acme.com")
    assert found is not None and found.id == 10


def test_addresses_are_normalised_on_entry() -> None:
    index = make_index()
    found = index.contact_for("j.doe@acme-mail.com")
    assert found is not None and found.id == 10


def test_removing_a_contact_keeps_an_address_another_contact_took_over() -> None:
    # GIVEN Lone Wolf takes over jane@acme.com
    index = make_index()
    index.upsert_contact(ContactRecord(12, "Lone Wolf", ("jane@acme.com",)))
    # WHEN Jane is removed
    index.remove_contact(10)
    # THEN the address still belongs to Lone Wolf
    found = index.contact_for("jane@acme.com")
    assert found is not None and found.id == 12


def test_add_and_remove_single_email_and_domain() -> None:
    index = make_index()
    index.add_contact_email(12, "Wolf@Nowhere.org")
    assert index.contact_for("wolf@nowhere.org") is not None
    index.remove_contact_email(12, "wolf@nowhere.org")
    assert index.contact_for("wolf@nowhere.org") is None
    index.add_account_domain(3, "initech.de")
    assert index.accounts_by_domain["initech.de"] == {3}
    index.remove_account_domain(3, "initech.de")
    assert "initech.de" not in index.accounts_by_domain


def test_account_rename_and_removal_update_name_and_domain_maps() -> None:
    index = make_index()
    index.upsert_account(AccountRecord(3, "Initrode", ("initrode.com",)))
    assert index.account_for_name("initech") is None
    renamed = index.account_for_name("INITRODE")
    assert renamed is not None and renamed.id == 3
    assert "initech.com" not in index.accounts_by_domain
    index.remove_account(3)
    assert index.account_for_name("initrode") is None
    assert "initrode.com" not in index.accounts_by_domain


def test_domain_shared_by_two_accounts_is_recorded_as_ambiguous() -> None:
    index = make_index()
    index.add_account_domain(3, "acme.com")
    assert index.accounts_by_domain["acme.com"] == {1, 3}
    assert index.account_of_domain["acme.com"] is None
    # AND once the second owner drops it, the first owns it alone again
    index.remove_account(3)
    only = index.account_of_domain["acme.com"]
    assert only is not None and only.id == 1


def test_opportunity_leaves_the_open_set_when_won_and_code_lookup_is_case_insensitive() -> None:
    index = make_index()
    assert 100 in index.open_opportunities_by_account[1]
    index.upsert_opportunity(OpportunityRecord(100, "opp-000123", "Acme renewal", 1, status="won"))
    assert 100 not in index.open_opportunities_by_account[1]
    found = index.opportunity_for_code("Opp-000123")
    assert found is not None and found.id == 100
    index.remove_opportunity(100)
    assert index.opportunity_for_code("OPP-000123") is None


def test_opportunity_moved_to_another_account() -> None:
    index = make_index()
    index.upsert_opportunity(OpportunityRecord(100, "OPP-000123", "Acme renewal", 3))
    assert 100 not in index.open_opportunities_by_account[1]
    assert 100 in index.open_opportunities_by_account[3]


def test_internal_addresses() -> None:
    index = make_index()
    assert index.is_internal("carol@us.example")
    assert index.is_internal("alice@us.example")
    assert not index.is_internal("jane@acme.com")
    index.add_user_email("contractor@freelance.io")
    assert index.is_internal("contractor@freelance.io")
