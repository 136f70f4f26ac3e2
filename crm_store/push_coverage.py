"""Which enabled mailboxes Graph push covers, and why the others are not covered.

With push on, a mailbox is polled only at the long safety interval, so one
whose subscriptions are missing, failing to be created or expired would go
stale for hours unless it is told apart. A mailbox is *covered* when every
required resource kind has a subscription that has not expired yet; the
ticker polls the others at the normal interval (the same rule, as SQL, is
``COVERED_SQL``) and ``mailsync status`` / ``/metrics`` list them with the
reason, so both always agree on which mailboxes are on the safety net alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.models import GraphSubscription, GraphSubscriptionAttempt, Mailbox

COVERED_SQL = """(
    SELECT count(DISTINCT s.resource_kind) FROM graph_subscriptions AS s
     WHERE s.mailbox_id = m.id AND s.expires_at > :now AND s.resource_kind = ANY(:push_kinds)
  ) = cardinality(CAST(:push_kinds AS text[]))"""
"""True for the mailbox aliased ``m`` when push covers it (PostgreSQL; binds ``:now`` and
``:push_kinds``, the required resource kinds); the rule ``push_coverage`` applies in Python."""


class Gap(StrEnum):
    """Why a resource kind of a mailbox has no live subscription, worst first."""

    FAILING = "failing"  # Graph refused to create it; retried with backoff
    EXPIRED = "expired"  # renewals failed, or no subscription job ran in time
    MISSING = "missing"  # never created (a mailbox just added, or no job ran yet)
    NOT_GRAPH = "not_graph"  # an EWS mailbox: Graph push does not exist for it


@dataclass(frozen=True, slots=True)
class KindGap:
    resource_kind: str
    gap: Gap
    since: datetime | None  # EXPIRED: when it expired
    retry_at: datetime | None  # FAILING: the next creation attempt (may be overdue)
    failures: int  # FAILING: creations refused in a row


@dataclass(frozen=True, slots=True)
class MailboxCoverage:
    address: str
    gaps: tuple[KindGap, ...]  # empty: covered

    @property
    def covered(self) -> bool:
        return not self.gaps

    @property
    def reason(self) -> Gap | None:
        """The one reason a mailbox is counted under: the worst of its kinds' gaps."""
        order = list(Gap)
        return min((g.gap for g in self.gaps), key=order.index, default=None)


def push_coverage(session: Session, kinds: Sequence[str], now: datetime) -> list[MailboxCoverage]:
    """Every enabled mailbox with the gaps in its push coverage (three queries in all)."""
    mailboxes = session.execute(
        select(Mailbox.id, Mailbox.address, Mailbox.provider)
        .where(Mailbox.enabled.is_(True))
        .order_by(Mailbox.address)
    ).all()
    expiries = {
        (int(m), str(k)): e
        for m, k, e in session.execute(
            select(
                GraphSubscription.mailbox_id,
                GraphSubscription.resource_kind,
                GraphSubscription.expires_at,
            )
            .join(Mailbox, Mailbox.id == GraphSubscription.mailbox_id)
            .where(Mailbox.enabled.is_(True))
        )
    }
    attempt = GraphSubscriptionAttempt
    attempts = {
        (int(m), str(k)): (r, int(f))
        for m, k, r, f in session.execute(
            select(attempt.mailbox_id, attempt.resource_kind, attempt.retry_at, attempt.failures)
            .join(Mailbox, Mailbox.id == attempt.mailbox_id)
            .where(Mailbox.enabled.is_(True))
        )
    }
    result: list[MailboxCoverage] = []
    for mailbox_id, address, provider in mailboxes:
        gaps: list[KindGap] = []
        for kind in kinds:
            key = (int(mailbox_id), kind)
            expires_at = expiries.get(key)
            if expires_at is not None and expires_at > now:
                continue
            if provider != "graph":
                gaps.append(KindGap(kind, Gap.NOT_GRAPH, None, None, 0))
            elif expires_at is not None:
                gaps.append(KindGap(kind, Gap.EXPIRED, expires_at, None, 0))
            elif key in attempts:
                retry_at, failures = attempts[key]
                gaps.append(KindGap(kind, Gap.FAILING, None, retry_at, failures))
            else:
                gaps.append(KindGap(kind, Gap.MISSING, None, None, 0))
        result.append(MailboxCoverage(str(address), tuple(gaps)))
    return result
