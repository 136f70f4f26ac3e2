"""Retroactive linking, explanations and dry runs: pure functions over handed-in data."""

from __future__ import annotations

from rules_factories import ALICE, SENT, make_index, message

from crm_store.items import ItemKind, LinkSpec, OriginKind, TargetKind
from rules import (
    AccountRecord,
    ContactRecord,
    CrmChange,
    Excluded,
    OpportunityRecord,
    RulesEngine,
    StoredItem,
    UnmatchedItem,
    affected_by,
    dry_run,
    explain,
    load_rules,
    relink,
)

ACC, CON, OPP = TargetKind.ACCOUNT, TargetKind.CONTACT, TargetKind.OPPORTUNITY


def unmatched(item_id: int, sender: str, subject: str = "hi") -> UnmatchedItem:
    return UnmatchedItem(
        item_kind=ItemKind.MESSAGE,
        item_id=item_id,
        item_key=f"<u{item_id}@x>",
        mailbox=ALICE,
        subject=subject,
        sent_at=SENT,
        participants=(("from", sender), ("to", ALICE)),
    )


# --------------------------------------------------------------------------- retroactive


def test_new_contact_links_the_stored_items_that_now_match() -> None:
    # GIVEN three unmatched items kept as metadata
    index = make_index()
    engine = RulesEngine(index)
    kept = [
        unmatched(1, "sam@newco.io"),
        unmatched(2, "kim@other.io"),
        unmatched(3, "sam@newco.io"),
    ]
    # WHEN Sam becomes a contact of Initech (index updated incrementally)
    index.upsert_contact(ContactRecord(13, "Sam New", ("sam@newco.io",), 3))
    change = CrmChange.of(addresses=["Sam@NewCo.io"])
    candidates = affected_by(change, kept, engine)
    # THEN only Sam's items are candidates, and they get the contact and account
    assert [c.item_id for c in candidates] == [1, 3]
    found = relink(engine, candidates)
    assert [(r.item_id, {(x.target_kind, x.target_id) for x in r.links}) for r in found] == [
        (1, {(CON, 13), (ACC, 3)}),
        (3, {(CON, 13), (ACC, 3)}),
    ]
    assert found[0].links[0].evidence == "participant: from=sam@newco.io → contact Sam New"


def test_new_account_domain_and_subdomain() -> None:
    index = make_index()
    engine = RulesEngine(index)
    kept = [unmatched(1, "a@eu.newco.io"), unmatched(2, "b@newco.io"), unmatched(3, "c@x.io")]
    index.upsert_account(AccountRecord(4, "NewCo", ("newco.io",)))
    candidates = affected_by(CrmChange.of(domains=["newco.io"]), kept, engine)
    assert [c.item_id for c in candidates] == [1, 2]
    assert all(
        (ACC, 4) in {(x.target_kind, x.target_id) for x in r.links}
        for r in relink(engine, candidates)
    )


def test_new_opportunity_code_in_a_kept_subject() -> None:
    index = make_index()
    engine = RulesEngine(index)
    kept = [unmatched(1, "x@unknown.org", "About OPP-000555"), unmatched(2, "x@unknown.org")]
    index.upsert_opportunity(OpportunityRecord(300, "OPP-000555", "New deal", 3))
    candidates = affected_by(CrmChange.of(opportunity_codes=["opp-000555"]), kept, engine)
    assert [c.item_id for c in candidates] == [1]
    [found] = relink(engine, candidates)
    assert {(x.target_kind, x.target_id) for x in found.links} == {(OPP, 300), (ACC, 3)}


def test_retro_respects_suppressions_and_leaves_still_unmatched_items_out() -> None:
    index = make_index()
    engine = RulesEngine(index)
    index.upsert_contact(ContactRecord(13, "Sam New", ("sam@newco.io",), 3))
    kept = [unmatched(1, "sam@newco.io"), unmatched(2, "kim@other.io")]
    found = relink(engine, kept, suppressed={(ItemKind.MESSAGE, 1): {(ACC, 3)}})
    assert [(r.item_id, [(x.target_kind, x.target_id) for x in r.links]) for r in found] == [
        (1, [(CON, 13)])
    ]


def test_unchanged_crm_touches_nothing() -> None:
    engine = RulesEngine(make_index())
    assert affected_by(CrmChange.of(account_ids=[1]), [unmatched(1, "a@acme.com")], engine) == []


# --------------------------------------------------------------------------- explain


def test_explain_lists_every_step_with_verdict_and_reason() -> None:
    # GIVEN a custom rule that does not fire and one that does
    rules = load_rules(
        '[[rule]]\nname = "never"\nwhen = { subject = "invoice" }\nthen = { ignore = true }\n'
        '[[rule]]\nname = "tag"\nwhen = { from_domain = "acme.com" }\n'
        'then = { add_category = "CRM" }\n'
    )
    explanation = explain(message(subject="Hello"), make_index(), rules, mailbox=ALICE)
    steps = {s.step: s for s in explanation.steps}
    assert list(steps) == [
        "exclusion:private",
        "exclusion:blocked",
        "exclusion:internal_only",
        "exclusion:bulk_or_automatic",
        "tracking_code",
        "thread",
        "participant",
        "domain",
        "rule:never",
        "rule:tag",
        "inference",
    ]
    assert steps["exclusion:private"].why == "sensitivity is normal"
    assert steps["exclusion:internal_only"].why == "jane@acme.com is not one of ours"
    assert not steps["tracking_code"].fired
    assert steps["participant"].fired
    assert "participant: from=jane@acme.com → contact Jane Doe" in steps["participant"].why
    assert steps["rule:never"].why == "not met: subject contains /invoice/"
    assert steps["rule:tag"].fired and "add category CRM" in steps["rule:tag"].why
    assert steps["inference"].fired
    text = "\n".join(explanation.lines())
    assert "→ 3 link(s), body stored: True" in text


def test_explain_of_an_excluded_item_stops_at_the_exclusion() -> None:
    explanation = explain(message(headers={"Precedence": "bulk"}), make_index())
    assert [s.step for s in explanation.steps] == [
        "exclusion:private",
        "exclusion:blocked",
        "exclusion:internal_only",
        "exclusion:bulk",
    ]
    assert [s.fired for s in explanation.steps] == [False, False, False, True]
    assert isinstance(explanation.result, Excluded)
    assert explanation.lines()[-1] == "→ excluded (bulk): header Precedence: bulk"


def test_explain_gives_the_same_result_as_link() -> None:
    engine = RulesEngine(make_index())
    item = message(subject="OPP-000124", cc=("new@globex.de",))
    assert engine.explain(item, mailbox=ALICE).result == engine.link(item, ALICE)


# --------------------------------------------------------------------------- dry run


def test_dry_run_counts_link_unlink_ignore_without_touching_person_links() -> None:
    index = make_index()
    person = LinkSpec(ACC, 3, OriginKind.PERSON, "person", "tagged", actor=ALICE)
    stale = LinkSpec(ACC, 2, OriginKind.RULE, "domain", "old rule")
    stored = [
        # linked today by a person and a stale rule link; rules would add Jane, Acme, renewal
        StoredItem(message(), "<a@x>", ALICE, links=(person, stale)),
        # a newsletter the new rule set ignores
        StoredItem(message(subject="Newsletter March"), "<b@x>", ALICE),
        # already exactly what the rules say
        StoredItem(
            message(sender="lone@nowhere.org"),
            "<c@x>",
            ALICE,
            links=(LinkSpec(CON, 12, OriginKind.RULE, "participant", "e"),),
        ),
    ]
    rules = load_rules(
        '[[rule]]\nname = "news"\nwhen = { subject = "^newsletter" }\nthen = { ignore = true }\n'
    )
    report = dry_run(RulesEngine(index, ruleset=rules), stored, sample_size=10)
    assert (
        report.items,
        report.would_link,
        report.would_unlink,
        report.would_ignore,
        report.unchanged,
    ) == (3, 3, 1, 1, 1)
    assert report.ignored_by == {"rule:news": 1}
    assert report.by_origin == {"participant": 2, "inference": 1}
    unlinked = [c for c in report.sample if c.verdict == "unlink"]
    assert [c.detail for c in unlinked] == ["account #2: old rule"]
