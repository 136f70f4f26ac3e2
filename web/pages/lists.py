"""Every list the pages show, as CSV: the same rows, so the same visibility."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi.responses import Response

from crm_store.activity import OpportunityContact, PersonActivity
from crm_store.correspondence import Entry
from crm_store.suggestion_queue import PendingSuggestion
from web.pages.rendering import csv_response


def _parties(entry: Entry, *roles: str) -> str:
    return "; ".join(p.address for p in entry.parties if p.role in roles)


def entries_csv(filename: str, entries: Sequence[Entry]) -> Response:
    return csv_response(
        filename,
        (
            "kind",
            "id",
            "when",
            "direction",
            "subject",
            "from",
            "to",
            "cc",
            "linked_to",
            "linked_by",
            "reasons",
            "attachments",
        ),
        (
            (
                e.kind.value,
                e.id,
                e.at,
                e.direction,
                e.subject,
                _parties(e, "from", "organizer"),
                _parties(e, "to", "required", "optional", "resource"),
                _parties(e, "cc"),
                "; ".join(f"{link.record.kind.value}:{link.record.label}" for link in e.links),
                "; ".join(link.made_by for link in e.links),
                "; ".join(link.evidence for link in e.links),
                "; ".join(a.name for a in e.attachments),
            )
            for e in entries
        ),
    )


def opportunities_csv(
    filename: str, opportunities: Sequence[OpportunityContact], now: datetime
) -> Response:
    return csv_response(
        filename,
        (
            "code",
            "name",
            "account",
            "owner",
            "stage",
            "amount",
            "currency",
            "last_contact",
            "days_since_contact",
        ),
        (
            (
                o.code,
                o.name,
                o.account_name,
                o.owner_name,
                o.stage,
                o.amount,
                o.currency,
                o.last_contact_at,
                o.days_since_contact(now),
            )
            for o in opportunities
        ),
    )


def suggestions_csv(filename: str, suggestions: Sequence[PendingSuggestion]) -> Response:
    return csv_response(
        filename,
        ("id", "kind", "item_id", "when", "subject", "suggested_record", "reason"),
        (
            (
                s.id,
                s.entry.kind.value,
                s.entry.id,
                s.entry.at,
                s.entry.subject,
                f"{s.record.kind.value}:{s.record.label}",
                s.reason,
            )
            for s in suggestions
        ),
    )


def activity_csv(filename: str, people: Sequence[PersonActivity]) -> Response:
    return csv_response(
        filename,
        ("salesperson", "email", "week_start", "emails_in", "emails_out", "meetings"),
        (
            (p.name, p.email, w.week_start, w.emails_in, w.emails_out, w.meetings)
            for p in people
            for w in p.weeks
        ),
    )
