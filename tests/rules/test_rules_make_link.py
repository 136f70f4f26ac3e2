"""The hot-path LinkSpec builder makes exactly what the constructor makes."""

from __future__ import annotations

import dataclasses

from crm_store.items import LinkSpec, OriginKind, TargetKind
from rules.make_link import (
    FAST,
    FIELDS,
    LINKED_FIELDS,
    SUGGESTION_FIELDS,
    make_link,
    make_linked,
    make_suggestion,
)
from rules.results import Linked, Suggestion


def test_make_link_equals_the_dataclass_constructor() -> None:
    built = make_link(TargetKind.CONTACT, 10, OriginKind.RULE, "participant", "evidence")
    expected = LinkSpec(TargetKind.CONTACT, 10, OriginKind.RULE, "participant", "evidence")
    assert built == expected
    assert hash(built) == hash(expected)
    assert built.actor is None
    assert dataclasses.replace(built, actor="a@b.c").actor == "a@b.c"


def test_the_shortcut_is_in_use_for_the_current_linkspec() -> None:
    # If this fails, LinkSpec's fields changed: make_link has fallen back to the slow
    # constructor (still correct); update rules/make_link.py FIELDS to regain speed.
    assert tuple(f.name for f in dataclasses.fields(LinkSpec)) == FIELDS
    assert FAST


def test_deferred_evidence_reads_as_the_text_it_stands_for() -> None:
    # GIVEN a link whose evidence is a template and the record it names (the matchers'
    # form) and one holding the same words as text (the store's form)
    @dataclasses.dataclass(frozen=True)
    class Named:
        name: str

    deferred = make_link(
        TargetKind.ACCOUNT,
        1,
        OriginKind.RULE,
        "domain",
        (
            "domain: {0}={1} → account {2.name} (domain {3})",
            "from",
            "a@acme.com",
            Named("Acme"),
            "acme.com",
        ),
    )
    text = LinkSpec(
        TargetKind.ACCOUNT,
        1,
        OriginKind.RULE,
        "domain",
        "domain: from=a@acme.com → account Acme (domain acme.com)",
    )
    # WHEN their evidence is read THEN both give the same words
    assert deferred.evidence == text.evidence
    # AND they are the same link (equal and hashed alike), however each holds its words
    assert deferred == text
    assert hash(deferred) == hash(text)
    assert {deferred, text} == {text}
    # AND different words make different links
    assert deferred != dataclasses.replace(text, evidence_source="domain: something else")


def test_make_linked_equals_the_dataclass_constructor() -> None:
    link = make_link(TargetKind.CONTACT, 10, OriginKind.RULE, "participant", "evidence")
    suggestion = Suggestion(TargetKind.OPPORTUNITY, 7, "two open deals")
    built = make_linked((link,), (suggestion,), True, ("CRM",), ("r1",))
    assert built == Linked((link,), (suggestion,), True, ("CRM",), ("r1",))
    assert tuple(f.name for f in dataclasses.fields(Linked)) == LINKED_FIELDS


def test_make_suggestion_equals_the_dataclass_constructor() -> None:
    built = make_suggestion(TargetKind.OPPORTUNITY, 7, ("{0} open deals", 2))
    assert built == Suggestion(TargetKind.OPPORTUNITY, 7, "2 open deals")
    assert hash(built) == hash(Suggestion(TargetKind.OPPORTUNITY, 7, "2 open deals"))
    assert built.reason == "2 open deals"
    assert tuple(f.name for f in dataclasses.fields(Suggestion)) == SUGGESTION_FIELDS
