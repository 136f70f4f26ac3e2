"""People outrank rules, and the matchers' order decides which evidence a link keeps."""

from __future__ import annotations

from rules_factories import ALICE, make_index, message

from crm_store.items import LinkSpec, OriginKind, Sensitivity, TargetKind
from rules import (
    Excluded,
    InMemoryThreadLookup,
    Linked,
    LinkResult,
    RulesEngine,
    StoredThreadLinks,
    drop_suppressed,
    load_rules,
    plan_relink,
)

ACC, CON, OPP = TargetKind.ACCOUNT, TargetKind.CONTACT, TargetKind.OPPORTUNITY


def links_of(result: LinkResult) -> dict[tuple[TargetKind, int], LinkSpec]:
    assert isinstance(result, Linked), result
    return {(link.target_kind, link.target_id): link for link in result.links}


# --------------------------------------------------------------------------- suppressions


def test_suppressed_target_is_never_returned_by_any_matcher() -> None:
    # GIVEN a person removed Acme and the renewal from this message earlier
    suppressed = {(ACC, 1), (OPP, 100)}
    # WHEN the code, the contact and the domain all point at them again
    item = message(subject="OPP-000123", cc=("new@acme.com",))
    links = links_of(RulesEngine(make_index()).link(item, ALICE, suppressed=suppressed))
    # THEN neither comes back; the contact (not suppressed) does
    assert set(links) == {(CON, 10)}


def test_suppressed_contact_is_not_returned_but_its_account_is() -> None:
    # GIVEN a person removed Jane from this message earlier
    links = links_of(RulesEngine(make_index()).link(message(), ALICE, suppressed={(CON, 10)}))
    # WHEN she is a participant again THEN her account comes back, she does not
    assert (CON, 10) not in links and (ACC, 1) in links


def test_suppressed_account_does_not_drive_inference() -> None:
    links = links_of(RulesEngine(make_index()).link(message(), ALICE, suppressed={(ACC, 1)}))
    assert (OPP, 100) not in links


def test_suppressed_opportunity_is_not_inferred_nor_suggested() -> None:
    engine = RulesEngine(make_index())
    assert (OPP, 100) not in links_of(engine.link(message(), ALICE, suppressed={(OPP, 100)}))
    result = engine.link(message(sender="x@globex.com"), ALICE, suppressed={(OPP, 200)})
    assert isinstance(result, Linked)
    # one left of two → it is the single candidate and is inferred
    assert (OPP, 201) in links_of(result) and result.suggestions == ()


def test_thread_does_not_bring_back_what_a_person_removed_from_the_reply() -> None:
    lookup = InMemoryThreadLookup()
    lookup.add("<p@x>", StoredThreadLinks(7, (LinkSpec(OPP, 200, OriginKind.RULE, "t", "e"),)))
    item = message(sender="x@unknown.org", in_reply_to="<p@x>")
    engine = RulesEngine(make_index(), thread_lookup=lookup)
    assert (OPP, 200) in links_of(engine.link(item))
    assert (OPP, 200) not in links_of(engine.link(item, suppressed={(OPP, 200)}))


def test_custom_rule_cannot_add_a_suppressed_link() -> None:
    rules = load_rules(
        '[[rule]]\nname = "r"\nwhen = { from = "x@unknown.org" }\n'
        'then = { link_account = "Initech" }\n'
    )
    result = RulesEngine(make_index(), ruleset=rules).link(
        message(sender="x@unknown.org"), suppressed={(ACC, 3)}
    )
    assert links_of(result) == {}


def test_drop_suppressed_filter() -> None:
    keep = LinkSpec(CON, 10, OriginKind.RULE, "participant", "e")
    gone = LinkSpec(ACC, 1, OriginKind.RULE, "participant", "e")
    assert drop_suppressed([keep, gone], {(ACC, 1)}) == [keep]


def test_relink_never_removes_person_links_and_never_readds_suppressed() -> None:
    # GIVEN an item with a person's link, a rule link and an inferred link
    person = LinkSpec(OPP, 200, OriginKind.PERSON, "person", "tagged", actor=ALICE)
    rule = LinkSpec(ACC, 1, OriginKind.RULE, "domain", "e")
    inferred = LinkSpec(OPP, 100, OriginKind.INFERRED, "inference", "e")
    # WHEN the rules now propose only the contact, and also the suppressed Initech
    proposed = [
        LinkSpec(CON, 10, OriginKind.RULE, "participant", "e"),
        LinkSpec(ACC, 3, OriginKind.RULE, "domain", "e"),
        LinkSpec(OPP, 200, OriginKind.RULE, "thread", "e"),
    ]
    plan = plan_relink([person, rule, inferred], proposed, suppressed={(ACC, 3)})
    # THEN the contact is added, rule/inferred links go, the person's link stays
    assert [(x.target_kind, x.target_id) for x in plan.add] == [(CON, 10)]
    assert {(x.target_kind, x.target_id) for x in plan.remove} == {(ACC, 1), (OPP, 100)}


def test_relink_treats_plain_string_origin_kinds_from_the_store_like_enums() -> None:
    person = LinkSpec(OPP, 200, "person", "person", "tagged")  # type: ignore[arg-type]
    assert plan_relink([person], []).remove == ()


# --------------------------------------------------------------------------- precedence


def test_exclusion_beats_every_matcher() -> None:
    item = message(subject="OPP-000123", sensitivity=Sensitivity.CONFIDENTIAL)
    assert isinstance(RulesEngine(make_index()).link(item, ALICE), Excluded)


def test_tracking_code_evidence_wins_over_participant_for_the_same_account() -> None:
    links = links_of(RulesEngine(make_index()).link(message(subject="OPP-000123"), ALICE))
    assert links[(ACC, 1)].origin == "tracking_code"
    assert links[(CON, 10)].origin == "participant"
    # the code's opportunity is linked by the code, not inferred
    assert links[(OPP, 100)].origin_kind is OriginKind.RULE


def test_thread_evidence_wins_over_participant_and_domain() -> None:
    lookup = InMemoryThreadLookup()
    lookup.add("<p@x>", StoredThreadLinks(9, (LinkSpec(ACC, 1, OriginKind.RULE, "x", "e"),)))
    item = message(in_reply_to="<p@x>", cc=("new@acme.com",))
    links = links_of(RulesEngine(make_index(), thread_lookup=lookup).link(item))
    assert links[(ACC, 1)].origin == "thread"


def test_participant_evidence_wins_over_domain_even_when_the_domain_address_comes_first() -> None:
    # GIVEN an unknown Acme address first and Jane (an Acme contact) second
    item = message(sender="new@acme.com", to=(ALICE, "jane@acme.com"))
    links = links_of(RulesEngine(make_index()).link(item))
    assert links[(ACC, 1)].origin == "participant"


def test_code_on_another_account_adds_that_account_and_skips_inference_there() -> None:
    # Jane (Acme) writes about a Globex deal by code
    result = RulesEngine(make_index()).link(message(subject="OPP-000124"), ALICE)
    links = links_of(result)
    assert {(OPP, 200), (ACC, 2), (CON, 10), (ACC, 1), (OPP, 100)} <= set(links)
    assert links[(OPP, 100)].origin_kind is OriginKind.INFERRED
    assert isinstance(result, Linked) and result.suggestions == ()


def test_suppressions_as_the_store_reads_them_plain_strings() -> None:
    # GIVEN suppression rows read from the database: kinds are plain strings
    suppressed = {("account", 1), ("opportunity", 100)}
    result = RulesEngine(make_index()).link(message(), ALICE, suppressed=suppressed)  # type: ignore[arg-type]
    assert set(links_of(result)) == {(CON, 10)}
