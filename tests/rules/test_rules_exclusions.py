"""Exclusions come first: private, blocked, internal-only, bulk and automatic items are not kept."""

from __future__ import annotations

import pytest
from rules_factories import ALICE, BOB, make_index, meeting, message

from crm_store.items import Sensitivity
from rules import Excluded, ExclusionReason, Linked, RulesEngine, RulesSettings


def engine(**settings: object) -> RulesEngine:
    return RulesEngine(make_index(), RulesSettings.model_validate(settings))


@pytest.mark.parametrize("sensitivity", [Sensitivity.PRIVATE, Sensitivity.CONFIDENTIAL])
def test_private_messages_and_meetings_are_excluded(sensitivity: Sensitivity) -> None:
    # GIVEN a message from a known contact, with a tracking code, marked private
    item = message(subject="OPP-000123", sensitivity=sensitivity)
    # WHEN linked  THEN it is excluded as private, whatever else matches
    result = engine().link(item, mailbox=ALICE)
    assert isinstance(result, Excluded)
    assert result.reason is ExclusionReason.PRIVATE
    assert result.counter_key == "private"
    assert isinstance(engine().link(meeting(sensitivity=sensitivity)), Excluded)


def test_personal_sensitivity_is_not_excluded() -> None:
    assert isinstance(engine().link(message(sensitivity=Sensitivity.PERSONAL)), Linked)


def test_blocked_address() -> None:
    result = engine(blocked_addresses=["Jane@Acme.com"]).link(message())
    assert isinstance(result, Excluded) and result.reason is ExclusionReason.BLOCKED
    assert "from=jane@acme.com" in result.detail


def test_blocked_domain_covers_subdomains() -> None:
    item = message(sender="hr@payroll.bank.example", to=(ALICE,))
    result = engine(blocked_domains=["bank.example"]).link(item)
    assert isinstance(result, Excluded) and result.reason is ExclusionReason.BLOCKED
    assert "domain bank.example" in result.detail


def test_internal_only_mail_is_excluded_by_default_and_can_be_kept() -> None:
    # GIVEN mail between our own users only (a user address and our domain)
    item = message(sender=ALICE, to=(BOB, "carol@us.example"))
    # THEN excluded by default
    result = engine().link(item)
    assert isinstance(result, Excluded) and result.reason is ExclusionReason.INTERNAL_ONLY
    # AND kept when the setting is off
    assert isinstance(engine(internal_only_excluded=False).link(item), Linked)


def test_one_external_participant_makes_mail_not_internal() -> None:
    item = message(sender=ALICE, to=(BOB,), cc=("someone@elsewhere.org",))
    assert isinstance(engine().link(item), Linked)


def test_internal_only_meeting_is_excluded() -> None:
    result = engine().link(meeting(organizer=ALICE, attendees=(BOB,)))
    assert isinstance(result, Excluded) and result.reason is ExclusionReason.INTERNAL_ONLY


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto-Submitted": "auto-replied"}, ExclusionReason.AUTOMATIC),
        ({"auto-submitted": "auto-generated"}, ExclusionReason.AUTOMATIC),
        ({"List-Unsubscribe": "<mailto:leave@list.example>"}, ExclusionReason.BULK),
        ({"List-Id": "<news.acme.com>"}, ExclusionReason.BULK),
        ({"Precedence": "bulk"}, ExclusionReason.BULK),
        ({"PRECEDENCE": "List"}, ExclusionReason.BULK),
        ({"X-Autoreply": "yes"}, ExclusionReason.AUTOMATIC),
        ({"Return-Path": "<>"}, ExclusionReason.AUTOMATIC),
    ],
)
def test_bulk_and_automatic_headers(headers: dict[str, str], reason: ExclusionReason) -> None:
    result = engine().link(message(headers={"Received": "from mx", **headers}))
    assert isinstance(result, Excluded) and result.reason is reason


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "no"},
        {"Auto-Submitted": " No ; reason=manual"},
        {"Precedence": "first-class"},
        {"Return-Path": "<a@b.c>"},
    ],
)
def test_headers_that_say_a_person_wrote_it(headers: dict[str, str]) -> None:
    assert isinstance(engine().link(message(headers=headers)), Linked)


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Quote",
        "Out of Office: back Monday",
        "Abwesenheitsnotiz: Urlaub",
        "Undeliverable: Contract",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    result = engine().link(message(subject=subject))
    assert isinstance(result, Excluded) and result.reason is ExclusionReason.AUTOMATIC


def test_subject_merely_mentioning_office_is_kept() -> None:
    assert isinstance(engine().link(message(subject="Your new office: floor plan")), Linked)


def test_private_wins_over_blocked_in_the_recorded_reason() -> None:
    item = message(sensitivity=Sensitivity.PRIVATE)
    result = engine(blocked_addresses=["jane@acme.com"]).link(item)
    assert isinstance(result, Excluded) and result.reason is ExclusionReason.PRIVATE
