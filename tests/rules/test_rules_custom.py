"""Custom TOML rules: each condition, each action, order and stop_processing."""

from __future__ import annotations

from rules_factories import ALICE, BOB, make_index, meeting, message

from crm_store.items import Attachment, Direction, TargetKind
from rules import (
    Excluded,
    ExclusionReason,
    Linked,
    LinkResult,
    RulesEngine,
    load_rules,
)

ACC, CON, OPP = TargetKind.ACCOUNT, TargetKind.CONTACT, TargetKind.OPPORTUNITY


def run(toml: str, item: object, mailbox: str | None = ALICE) -> LinkResult:
    engine = RulesEngine(make_index(), ruleset=load_rules(toml))
    return engine.link(item, mailbox)  # type: ignore[arg-type]


def targets(result: LinkResult) -> set[tuple[TargetKind, int]]:
    assert isinstance(result, Linked), result
    return {(link.target_kind, link.target_id) for link in result.links}


def rule(when: str, then: str = 'link_account = "Initech"', extra: str = "") -> str:
    return f'[[rule]]\nname = "r"\n{extra}\nwhen = {{ {when} }}\nthen = {{ {then} }}\n'


UNKNOWN = {"sender": "x@unknown.org"}


def test_from_address_glob_links_a_named_account() -> None:
    # GIVEN a rule: mail from *@unknown.org belongs to Initech
    toml = rule('from = "*@UNKNOWN.org"')
    # WHEN such a message arrives THEN Initech is linked, with the rule's name as origin
    result = run(toml, message(**UNKNOWN))
    assert targets(result) == {(ACC, 3)}
    assert isinstance(result, Linked)
    assert result.links[0].origin == "r"
    assert result.links[0].evidence == "rule r: link account Initech"
    assert result.fired_rules == ("r",)
    # AND other senders are not
    assert (ACC, 3) not in targets(run(toml, message(sender="y@other.org")))


def test_to_cc_and_domain_conditions() -> None:
    item = message(**UNKNOWN, to=("a@partner.io",), cc=("b@cc.example",))
    assert (ACC, 3) in targets(run(rule('to = ["nobody@x.y", "a@partner.io"]'), item))
    assert (ACC, 3) in targets(run(rule('cc_domain = "cc.example"'), item))
    assert (ACC, 3) in targets(run(rule('to_domain = "*.io"'), item))
    assert (ACC, 3) in targets(run(rule('participant_domain = "unknown.org"'), item))
    assert (ACC, 3) not in targets(run(rule('from_domain = "partner.io"'), item))


def test_meeting_organizer_counts_as_from_and_attendees_as_to() -> None:
    item = meeting(organizer="x@unknown.org", attendees=(ALICE,))
    assert (ACC, 3) in targets(run(rule('from = "x@unknown.org"'), item))
    assert (ACC, 3) in targets(run(rule(f'to = "{ALICE}"'), item))


def test_subject_and_body_regex_are_case_insensitive() -> None:
    item = message(**UNKNOWN, subject="RENEWAL 2027", body="see the SOW attached")
    assert (ACC, 3) in targets(run(rule(r'subject = "renewal\\s+\\d{4}"'), item))
    assert (ACC, 3) in targets(run(rule('body = "\\\\bsow\\\\b"'), item))
    assert (ACC, 3) not in targets(run(rule('body = "invoice"'), item))


def test_folder_and_categories() -> None:
    item = message(**UNKNOWN, folder="Projects/Initech", categories=("Customer",))
    assert (ACC, 3) in targets(run(rule('folder = "projects/*"'), item))
    assert (ACC, 3) in targets(run(rule('categories = ["customer", "lead"]'), item))
    assert (ACC, 3) not in targets(run(rule('categories = "Lead"'), item))


def test_header_present_and_equals() -> None:
    item = message(**UNKNOWN, headers={"X-Mailer": "Salesforce Mailer 2.1", "X-SF-Id": "1"})
    assert (ACC, 3) in targets(run(rule('header_present = ["x-sf-id", "X-Mailer"]'), item))
    assert (ACC, 3) in targets(run(rule('header_equals = { X-Mailer = "Salesforce*" }'), item))
    assert (ACC, 3) not in targets(run(rule('header_equals = { X-Mailer = "Outlook*" }'), item))
    assert (ACC, 3) not in targets(run(rule('header_present = "X-Other"'), item))


def test_direction_and_attachments() -> None:
    inbound = message(**UNKNOWN, direction=Direction.INBOUND)
    outbound = message(sender=ALICE, to=("x@unknown.org",))  # derived from the mailbox
    with_pdf = message(**UNKNOWN, attachments=(Attachment("a.pdf", "application/pdf", 10),))
    assert (ACC, 3) in targets(run(rule('direction = "inbound"'), inbound))
    assert (ACC, 3) in targets(run(rule('direction = "outbound"'), outbound))
    assert (ACC, 3) not in targets(run(rule('direction = "outbound"'), inbound))
    assert (ACC, 3) in targets(run(rule("has_attachments = true"), with_pdf))
    assert (ACC, 3) not in targets(run(rule("has_attachments = true"), inbound))
    assert (ACC, 3) in targets(run(rule("has_attachments = false"), inbound))


def test_matched_account_field() -> None:
    # Jane's mail matched Acme (owner alice) through the participant matcher
    toml = rule(
        'account = { name = "Acme*", owner = "alice@us.example" }',
        'link_opportunity = "OPP-000126"',
    )
    assert (OPP, 101) in targets(run(toml, message()))
    other = rule('account = { domain = "globex.*" }', 'link_opportunity = "OPP-000126"')
    assert (OPP, 101) not in targets(run(other, message()))


def test_link_by_opportunity_code_brings_its_account_and_by_contact_address() -> None:
    result = run(
        rule('from = "x@unknown.org"', 'link_opportunity = "opp-000124"'), message(**UNKNOWN)
    )
    assert targets(result) == {(OPP, 200), (ACC, 2)}
    result = run(
        rule('from = "x@unknown.org"', 'link_contact = "Lone@Nowhere.org"'), message(**UNKNOWN)
    )
    assert targets(result) == {(CON, 12)}


def test_link_to_unknown_record_links_nothing_and_explain_says_why() -> None:
    engine = RulesEngine(
        make_index(),
        ruleset=load_rules(rule('from = "x@unknown.org"', 'link_opportunity = "OPP-000999"')),
    )
    explanation = engine.explain(message(**UNKNOWN))
    assert targets(explanation.result) == set()
    step = next(s for s in explanation.steps if s.step == "rule:r")
    assert step.fired and "no opportunity with code OPP-000999" in step.why


def test_open_opportunity_in_stage_one_links_several_suggest() -> None:
    # Acme has one open deal in Negotiation (OPP-000123) and one in Proposal
    toml = rule('subject = "contract"', 'link_open_opportunity_in_stage = "negotiation"')
    result = run(toml, message(subject="contract"), mailbox=BOB)
    assert (OPP, 100) in targets(result)
    # Globex has two open deals in Proposal → suggestions only
    toml = rule('subject = "contract"', 'link_open_opportunity_in_stage = "Proposal"')
    result = run(toml, message(sender="x@globex.com", subject="contract"), mailbox=BOB)
    assert isinstance(result, Linked)
    assert not {(OPP, 200), (OPP, 201)} & targets(result)
    assert {(s.target_kind, s.target_id) for s in result.suggestions} == {(OPP, 200), (OPP, 201)}


def test_ignore_excludes_and_is_counted_per_rule() -> None:
    result = run(rule('subject = "newsletter"', "ignore = true"), message(subject="Newsletter"))
    assert isinstance(result, Excluded)
    assert result.reason is ExclusionReason.IGNORED_BY_RULE
    assert result.counter_key == "rule:r"


def test_store_without_body_and_add_category() -> None:
    toml = rule('from_domain = "acme.com"', 'store_without_body = true, add_category = ["CRM"]')
    result = run(toml, message())
    assert isinstance(result, Linked)
    assert result.links and result.store_body is False
    assert result.add_categories == ("CRM",)


def test_rules_run_in_order_and_stop_processing_skips_the_rest() -> None:
    toml = (
        '[[rule]]\nname = "first"\nstop_processing = true\n'
        'when = { from_domain = "acme.com" }\nthen = { add_category = "A" }\n'
        '[[rule]]\nname = "second"\nwhen = { from_domain = "acme.com" }\n'
        "then = { ignore = true }\n"
    )
    result = run(toml, message())
    assert isinstance(result, Linked) and result.fired_rules == ("first",)
    # AND without stop_processing the second rule's ignore wins
    result = run(toml.replace("stop_processing = true", "stop_processing = false"), message())
    assert isinstance(result, Excluded) and result.rule == "second"


def test_disabled_rule_does_nothing() -> None:
    toml = rule('from_domain = "acme.com"', "ignore = true", extra="enabled = false")
    assert isinstance(run(toml, message()), Linked)


def test_custom_rule_links_feed_inference() -> None:
    # GIVEN a rule that links Globex for a partner's mail, alice owns two Globex deals
    toml = rule('from = "x@unknown.org"', 'link_account = "Globex"')
    result = run(toml, message(**UNKNOWN))
    assert isinstance(result, Linked)
    assert {(s.target_kind, s.target_id) for s in result.suggestions} == {(OPP, 200), (OPP, 201)}


def test_config_file_form_rules_rule() -> None:
    toml = (
        '[rules]\nfile = "ignored-here.toml"\ninternal_domains = ["us.example"]\n'
        '[[rules.rule]]\nname = "cfg"\nwhen = { from = "x@unknown.org" }\n'
        'then = { link_account = "Initech" }\n'
    )
    assert targets(run(toml, message(**UNKNOWN))) == {(ACC, 3)}
