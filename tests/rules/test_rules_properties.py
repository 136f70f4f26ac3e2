"""Properties over many generated items: people outrank rules, and linking is deterministic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rules_factories import ALICE, BOB, make_index, meeting, message

from crm_store.items import TargetKind
from rules import Linked, RulesEngine, TargetRef, load_rules

ADDRESSES = [
    "jane@acme.com",
    "j.doe@acme-mail.com",
    "pat@gmail.com",
    "lone@nowhere.org",
    "new@globex.de",
    "ops@eu.initech.com",
    "x@unknown.org",
    ALICE,
    BOB,
    "stranger@gmail.com",
]
SUBJECTS = ["Hello", "OPP-000123", "Re: OPP-000124 and OPP-000125", "contract", "OPP-999999"]
TARGETS: list[TargetRef] = [
    (TargetKind.ACCOUNT, 1),
    (TargetKind.ACCOUNT, 2),
    (TargetKind.ACCOUNT, 3),
    (TargetKind.CONTACT, 10),
    (TargetKind.CONTACT, 11),
    (TargetKind.CONTACT, 12),
    (TargetKind.OPPORTUNITY, 100),
    (TargetKind.OPPORTUNITY, 101),
    (TargetKind.OPPORTUNITY, 200),
    (TargetKind.OPPORTUNITY, 201),
]
RULES = load_rules(
    '[[rule]]\nname = "stage"\nwhen = { subject = "contract" }\n'
    'then = { link_open_opportunity_in_stage = "Proposal", link_account = "Initech" }\n'
)

items = st.one_of(
    st.builds(
        lambda s, to, cc, subject: message(sender=s, to=tuple(to), cc=tuple(cc), subject=subject),
        st.sampled_from(ADDRESSES),
        st.lists(st.sampled_from(ADDRESSES), max_size=3),
        st.lists(st.sampled_from(ADDRESSES), max_size=2),
        st.sampled_from(SUBJECTS),
    ),
    st.builds(
        lambda o, attendees, subject: meeting(
            organizer=o, attendees=tuple(attendees), subject=subject
        ),
        st.sampled_from(ADDRESSES),
        st.lists(st.sampled_from(ADDRESSES), max_size=4),
        st.sampled_from(SUBJECTS),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    item=items,
    suppressed=st.sets(st.sampled_from(TARGETS)),
    mailbox=st.sampled_from([ALICE, BOB, None]),
)
def test_no_suppressed_target_is_ever_linked_or_suggested(
    item: object, suppressed: set[TargetRef], mailbox: str | None
) -> None:
    engine = RulesEngine(make_index(), ruleset=RULES)
    result = engine.link(item, mailbox, suppressed=suppressed)  # type: ignore[arg-type]
    if isinstance(result, Linked):
        assert not {(x.target_kind, x.target_id) for x in result.links} & suppressed
        assert not {(s.target_kind, s.target_id) for s in result.suggestions} & suppressed
        # a target is never both linked and suggested, and never linked twice
        linked = [(x.target_kind, x.target_id) for x in result.links]
        assert len(linked) == len(set(linked))
        assert not set(linked) & {(s.target_kind, s.target_id) for s in result.suggestions}
        assert result.store_body == bool(result.links)


@settings(max_examples=100, deadline=None)
@given(item=items, mailbox=st.sampled_from([ALICE, BOB]))
def test_link_is_deterministic_and_matches_explain(item: object, mailbox: str) -> None:
    engine = RulesEngine(make_index(), ruleset=RULES)
    first = engine.link(item, mailbox)  # type: ignore[arg-type]
    assert engine.link(item, mailbox) == first  # type: ignore[arg-type]
    assert engine.explain(item, mailbox=mailbox).result == first  # type: ignore[arg-type]
