"""Each built-in matcher on its own: what it links and the evidence it gives."""

from __future__ import annotations

from rules_factories import ALICE, BOB, make_index, meeting, message

from crm_store.items import LinkSpec, OriginKind, TargetKind
from rules import (
    AccountRecord,
    ContactRecord,
    InMemoryThreadLookup,
    Linked,
    LinkResult,
    RulesEngine,
    RulesSettings,
    StoredThreadLinks,
)

ACC, CON, OPP = TargetKind.ACCOUNT, TargetKind.CONTACT, TargetKind.OPPORTUNITY


def linked(result: LinkResult) -> Linked:
    assert isinstance(result, Linked), result
    return result


def by_target(result: LinkResult) -> dict[tuple[TargetKind, int], LinkSpec]:
    return {(link.target_kind, link.target_id): link for link in linked(result).links}


# --------------------------------------------------------------------------- tracking code


def test_code_in_subject_links_opportunity_and_account() -> None:
    # GIVEN an unknown sender (no contact, no account domain) quoting a code
    item = message(sender="x@unknown.org", subject="Re: quote OPP-000123")
    # WHEN linked
    links = by_target(RulesEngine(make_index()).link(item))
    # THEN the opportunity and its account, each saying where the code was
    assert set(links) == {(OPP, 100), (ACC, 1)}
    assert links[(OPP, 100)].evidence == "token: OPP-000123 in subject → opportunity Acme renewal"
    assert links[(OPP, 100)].origin == "tracking_code"
    assert "in subject → account Acme Corp" in links[(ACC, 1)].evidence


def test_code_in_body_and_several_codes() -> None:
    item = message(sender="x@unknown.org", body="refs: OPP-000124, OPP-000125.")
    links = by_target(RulesEngine(make_index()).link(item))
    assert {(OPP, 200), (OPP, 201), (ACC, 2)} <= set(links)
    assert links[(OPP, 200)].evidence.startswith("token: OPP-000124 in body")


def test_code_in_an_html_only_body() -> None:
    item = message(sender="x@unknown.org", body=None, body_html="<p>Ref <b>OPP-000123</b></p>")
    assert (OPP, 100) in by_target(RulesEngine(make_index()).link(item))


def test_code_glued_to_a_word_or_longer_number_is_not_a_code() -> None:
    item = message(sender="x@unknown.org", subject="XOPP-000123 and OPP-0001234")
    assert linked(RulesEngine(make_index()).link(item)).links == ()


def test_unknown_code_links_nothing_and_explain_says_so() -> None:
    item = message(sender="x@unknown.org", subject="OPP-999999")
    explanation = RulesEngine(make_index()).explain(item)
    assert linked(explanation.result).links == ()
    step = next(s for s in explanation.steps if s.step == "tracking_code")
    assert "OPP-999999 found but no such opportunity" in step.why


def test_code_format_is_configurable_with_a_code_group() -> None:
    # GIVEN a deployment whose codes are written "[Deal OPP-000123]"
    settings = RulesSettings(tracking_code_pattern=r"\[Deal (?P<code>OPP-\d+)\]")
    item = message(sender="x@unknown.org", subject="Update [Deal OPP-000124]")
    links = by_target(RulesEngine(make_index(), settings).link(item))
    assert (OPP, 200) in links
    # AND a bare code no longer counts
    bare = message(sender="x@unknown.org", subject="Update OPP-000124")
    assert linked(RulesEngine(make_index(), settings).link(bare)).links == ()


# --------------------------------------------------------------------------- thread


def parent_lookup() -> InMemoryThreadLookup:
    lookup = InMemoryThreadLookup()
    parent_links = (
        LinkSpec(OPP, 200, OriginKind.PERSON, "person", "tagged in Outlook", actor=ALICE),
        LinkSpec(ACC, 2, OriginKind.RULE, "tracking_code", "token"),
    )
    lookup.add("<abc@x>", StoredThreadLinks(42, parent_links), conversation_id="conv-1")
    return lookup


def test_reply_inherits_links_of_the_message_it_answers() -> None:
    # GIVEN a stored message <abc@x> (id 42) a person tagged to Globex expansion
    # WHEN an unknown sender replies to it
    item = message(sender="x@unknown.org", in_reply_to="<abc@x>", references=("<abc@x>",))
    links = by_target(RulesEngine(make_index(), thread_lookup=parent_lookup()).link(item))
    # THEN the reply carries the same targets, made by the thread rule
    assert set(links) == {(OPP, 200), (ACC, 2)}
    assert links[(OPP, 200)].evidence == "thread: In-Reply-To <abc@x> → links of message <abc@x>"
    assert links[(OPP, 200)].origin_kind is OriginKind.RULE
    assert links[(OPP, 200)].origin == "thread"


def test_references_are_searched_newest_first_then_conversation() -> None:
    lookup = parent_lookup()
    item = message(
        sender="x@unknown.org",
        in_reply_to="<gone@x>",
        references=("<abc@x>", "<lost@x>", "<gone@x>"),
    )
    links = by_target(RulesEngine(make_index(), thread_lookup=lookup).link(item))
    assert links[(OPP, 200)].evidence.startswith("thread: References <abc@x>")
    by_conversation = message(
        sender="x@unknown.org", conversation_id="conv-1", message_id="<other@x>"
    )
    links = by_target(RulesEngine(make_index(), thread_lookup=lookup).link(by_conversation))
    # AND a parent found by conversation is named by its Message-ID too
    assert links[(OPP, 200)].evidence == "thread: conversation conv-1 → links of message <abc@x>"


def test_conversation_lookup_skips_the_message_itself() -> None:
    lookup = parent_lookup()
    itself = message(sender="x@unknown.org", conversation_id="conv-1", message_id="<abc@x>")
    assert linked(RulesEngine(make_index(), thread_lookup=lookup).link(itself)).links == ()


def test_reply_without_stored_parent_links_nothing_by_thread() -> None:
    item = message(sender="x@unknown.org", in_reply_to="<nobody@x>")
    assert linked(RulesEngine(make_index(), thread_lookup=parent_lookup()).link(item)).links == ()


# --------------------------------------------------------------------------- participants


def test_every_role_of_a_contact_links_contact_and_account() -> None:
    item = message(sender=ALICE, to=("someone@else.org",), cc=("J.Doe@acme-mail.com",))
    links = by_target(RulesEngine(make_index()).link(item))
    assert links[(CON, 10)].evidence == "participant: cc=j.doe@acme-mail.com → contact Jane Doe"
    assert links[(ACC, 1)].evidence == (
        "participant: cc=j.doe@acme-mail.com → contact Jane Doe → account Acme Corp"
    )


def test_contact_without_account_links_only_the_contact() -> None:
    links = by_target(RulesEngine(make_index()).link(message(sender="lone@nowhere.org")))
    assert set(links) == {(CON, 12)}


def test_meeting_organizer_and_attendees() -> None:
    item = meeting(organizer="jane@acme.com", attendees=(ALICE, "pat@gmail.com"))
    links = by_target(RulesEngine(make_index()).link(item))
    assert links[(CON, 10)].evidence == "participant: organizer=jane@acme.com → contact Jane Doe"
    assert links[(CON, 11)].evidence == "participant: attendee=pat@gmail.com → contact Pat Free"
    assert {(ACC, 1), (ACC, 2)} <= set(links)


def test_a_user_address_that_is_also_a_contact_still_links() -> None:
    # GIVEN our user Bob is also recorded as a contact of Initech (the matcher passes
    # our users' addresses over only while no contact has them), and internal mail kept
    index = make_index()
    index.upsert_contact(ContactRecord(13, "Bob Ours", (BOB,), 3))
    engine = RulesEngine(index, RulesSettings(internal_only_excluded=False))
    # WHEN Alice writes to Bob THEN Bob's contact and its account are linked
    links = by_target(engine.link(message(sender=ALICE, to=(BOB,))))
    assert links[(CON, 13)].evidence == f"participant: to={BOB} → contact Bob Ours"
    assert (ACC, 3) in links
    # AND once the contact lets the address go, Bob is one of ours again: nothing links
    index.remove_contact_email(13, BOB)
    assert linked(engine.link(message(sender=ALICE, to=(BOB,)))).links == ()
    # AND an address that becomes a user's later is still matched while a contact has it
    index.add_user_email("jane@acme.com")
    assert (CON, 10) in by_target(engine.link(message(sender="jane@acme.com")))


def test_evidence_names_the_records_as_they_are_when_written() -> None:
    # GIVEN a message matched before its account is renamed (the matchers keep the
    # account's slot and format the words only when the link is read or written)
    index = make_index()
    result = RulesEngine(index).link(message(sender="new.person@globex.de"))
    index.upsert_account(AccountRecord(2, "Globex Group", ("globex.com", "globex.de"), BOB))
    # THEN the evidence names the account's current name
    assert by_target(result)[(ACC, 2)].evidence == (
        "domain: from=new.person@globex.de → account Globex Group (domain globex.de)"
    )


# --------------------------------------------------------------------------- domains


def test_unknown_address_at_an_account_domain_links_the_account() -> None:
    links = by_target(RulesEngine(make_index()).link(message(sender="new.person@globex.de")))
    assert set(links) >= {(ACC, 2)}
    assert links[(ACC, 2)].evidence == (
        "domain: from=new.person@globex.de → account Globex (domain globex.de)"
    )
    assert links[(ACC, 2)].origin == "domain"


def test_subdomain_falls_back_to_the_account_domain() -> None:
    links = by_target(RulesEngine(make_index()).link(message(sender="ops@eu.initech.com")))
    assert set(links) == {(ACC, 3)}


def test_free_mail_domain_never_maps_to_an_account() -> None:
    # GIVEN a (misconfigured) account claiming gmail.com
    index = make_index()
    index.add_account_domain(3, "gmail.com")
    # WHEN a stranger writes from gmail THEN no account
    item = message(sender="stranger@gmail.com")
    assert linked(RulesEngine(index).link(item)).links == ()
    # AND a deployment can add its own consumer domains
    index.add_account_domain(3, "mail.example")
    settings = RulesSettings(extra_free_mail_domains=("mail.example",))
    item = message(sender="stranger@mail.example")
    assert linked(RulesEngine(index, settings).link(item)).links == ()


def test_domain_of_two_accounts_links_neither() -> None:
    index = make_index()
    index.add_account_domain(3, "globex.com")
    explanation = RulesEngine(index).explain(message(sender="who@globex.com"))
    assert linked(explanation.result).links == ()
    step = next(s for s in explanation.steps if s.step == "domain")
    assert "globex.com belongs to several accounts" in step.why


def test_our_own_domain_never_maps_to_an_account() -> None:
    index = make_index()
    index.add_account_domain(3, "us.example")
    item = message(sender="carol@us.example", to=("x@unknown.org",))
    assert linked(RulesEngine(index).link(item)).links == ()


def test_contact_with_account_is_not_matched_again_by_domain() -> None:
    # GIVEN Jane (Acme) writes from an address at Globex's domain
    index = make_index()
    index.add_contact_email(10, "jane@globex.com")
    links = by_target(RulesEngine(index).link(message(sender="jane@globex.com")))
    # THEN only her contact's account, not Globex
    assert (ACC, 1) in links and (ACC, 2) not in links


# --------------------------------------------------------------------------- inference


def test_one_open_opportunity_of_the_mailbox_owner_is_inferred() -> None:
    # Acme: OPP-000123 (alice, open), OPP-000126 (bob), OPP-000127 (won)
    result = RulesEngine(make_index()).link(message(), mailbox=ALICE)
    links = by_target(result)
    assert links[(OPP, 100)].origin_kind is OriginKind.INFERRED
    assert links[(OPP, 100)].evidence == (
        "inferred: account Acme Corp has one open opportunity OPP-000123 owned by alice@us.example"
    )
    # AND bob's mailbox infers bob's deal instead
    bob = by_target(RulesEngine(make_index()).link(message(to=(BOB,)), mailbox=BOB))
    assert (OPP, 101) in bob and (OPP, 100) not in bob


def test_several_open_opportunities_become_suggestions() -> None:
    result = linked(RulesEngine(make_index()).link(message(sender="x@globex.com"), mailbox=ALICE))
    assert not any(link.target_kind is OPP for link in result.links)
    assert [(s.target_kind, s.target_id) for s in result.suggestions] == [(OPP, 200), (OPP, 201)]
    assert "2 open opportunities owned by alice@us.example" in result.suggestions[0].reason


def test_no_inference_without_owner_or_when_an_opportunity_is_already_linked() -> None:
    engine = RulesEngine(make_index())
    assert (OPP, 100) not in by_target(engine.link(message()))  # no mailbox known
    item = message(sender="x@globex.com", subject="OPP-000124")
    result = linked(engine.link(item, mailbox=ALICE))
    assert result.suggestions == ()
    assert (OPP, 201) not in by_target(result)


def test_code_of_a_closed_deal_stops_inference_on_its_account() -> None:
    # GIVEN Jane quotes the won Acme deal; alice also has one open Acme deal
    item = message(subject="About OPP-000127 (closed)")
    links = by_target(RulesEngine(make_index()).link(item, ALICE))
    # THEN the quoted deal is linked and the open one is not guessed on top
    assert (OPP, 102) in links and (OPP, 100) not in links


def test_won_opportunity_is_never_inferred() -> None:
    index = make_index()
    index.remove_opportunity(100)
    assert not any(
        link.target_kind is OPP
        for link in linked(RulesEngine(index).link(message(), mailbox=ALICE)).links
    )


def test_bodies_only_for_tracked_items() -> None:
    engine = RulesEngine(make_index())
    assert linked(engine.link(message())).store_body is True
    unmatched = linked(engine.link(message(sender="x@unknown.org")))
    assert unmatched.is_unmatched and unmatched.store_body is False
