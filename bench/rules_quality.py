"""Precision and recall of the rules' automatic links on the sandbox's labelled company.

The sandbox generates a seeded company (accounts, contacts, opportunities, our
salespeople) and their mail and meetings, and labels every item from the
generator's *intent* (who a thread was written to, about which deal, why it
must be excluded), independently of the rules. Each item goes through the same
path as in a sync: Graph JSON as the sandbox serves it → the Graph driver's
normaliser → ``RulesEngine.link`` with the mailbox owner, and messages are
processed in thread order so a reply finds the links of the message it answers.

Auto-links counted: contacts, accounts, opportunities (by code, thread or
inference); suggestions are not links. A link on an item that should have
been excluded is a false positive; an expected link on an item that was
excluded is a false negative.

Two passes are printed: with the message body at link time, and as the Graph
driver delivers items today (no body on the first pass; codes only in the body
are then missed). The last line reports the first.
Last line: {"precision", "recall"}; targets precision ≥ 0.99, recall ≥ 0.95.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from crm_store.items import CorrespondenceItem, TargetKind
from mailsync.providers.graph.normalise import meeting_from_graph, message_from_graph
from mailsync.sandbox.calendarplan import event_ref
from mailsync.sandbox.company import Company
from mailsync.sandbox.graphjson import event_json, message_json
from mailsync.sandbox.mailplan import ExpectedLinks
from mailsync.sandbox.world import World, WorldConfig
from rules import (
    AccountRecord,
    ContactRecord,
    CrmIndex,
    Excluded,
    InMemoryThreadLookup,
    OpportunityRecord,
    OpportunityStatus,
    RulesEngine,
    StoredThreadLinks,
)

ANCHOR = datetime(2026, 6, 1, tzinfo=UTC)
SELECT = frozenset(
    {
        "internetMessageId",
        "conversationId",
        "subject",
        "sentDateTime",
        "receivedDateTime",
        "from",
        "toRecipients",
        "ccRecipients",
        "bccRecipients",
        "categories",
        "hasAttachments",
        "internetMessageHeaders",
        "body",
    }
)
Key = tuple[str, str]  # (target kind, natural key: contact's first email, account name, code)


def build_index(company: Company) -> tuple[CrmIndex, dict[tuple[TargetKind, int], Key]]:
    """The CRM as the store would load it; ids are list positions + 1."""
    index = CrmIndex.build(
        user_emails=[u.email for u in company.users], internal_domains=[company.domain]
    )
    keys: dict[tuple[TargetKind, int], Key] = {}
    for a in company.accounts:
        index.upsert_account(AccountRecord(a.index + 1, a.name, a.domains, a.owner_email))
        keys[(TargetKind.ACCOUNT, a.index + 1)] = ("account", a.name)
    for c in company.contacts:
        index.upsert_contact(
            ContactRecord(c.index + 1, c.display_name, c.emails, c.account_index + 1)
        )
        keys[(TargetKind.CONTACT, c.index + 1)] = ("contact", c.emails[0])
    for o in company.opportunities:
        index.upsert_opportunity(
            OpportunityRecord(
                o.index + 1,
                o.code,
                o.name,
                o.account_index + 1,
                OpportunityStatus(o.status),
                o.stage,
                o.owner_email,
            )
        )
        keys[(TargetKind.OPPORTUNITY, o.index + 1)] = ("opportunity", o.code)
    return index, keys


def expected_keys(expected: ExpectedLinks) -> set[Key]:
    keys: set[Key] = {("contact", e) for e in expected.contacts}
    keys |= {("account", name) for name in expected.accounts}
    keys |= {("opportunity", code) for code, _ in expected.opportunities}
    if expected.inferred_opportunity:
        keys.add(("opportunity", expected.inferred_opportunity))
    return keys


@dataclass(slots=True)
class Tally:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    items: int = 0
    exclusion_errors: int = 0
    misses: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def add(self, label: str, category: str, expected: set[Key], got: set[Key]) -> None:
        self.items += 1
        self.true_positive += len(expected & got)
        extra, missing = got - expected, expected - got
        self.false_positive += len(extra)
        self.false_negative += len(missing)
        for kind, _ in missing:
            self.misses[f"{category}/{kind}"] += 1
        for kind, _ in extra:
            self.wrong[f"{category}/{kind}"] += 1
        if (extra or missing) and len(self.samples) < 5:
            self.samples.append(f"{label}: missing {sorted(missing)} extra {sorted(extra)}")

    @property
    def precision(self) -> float:
        found = self.true_positive + self.false_positive
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positive + self.false_negative
        return self.true_positive / wanted if wanted else 1.0


def messages(
    world: World, with_body: bool
) -> Iterator[tuple[str, CorrespondenceItem, str, ExpectedLinks]]:
    plan = world.plan
    for ref in plan.iter_refs():
        rendered = plan.render(ref)
        mailbox, _ = divmod(ref, 1 << 40)
        raw = message_json(
            rendered,
            item_id=f"m{ref}",
            parent_folder_id="inbox",
            received_at=rendered.sent_at,
            categories=(),
            is_read=True,
            select=SELECT,
            expand_sensitivity=True,
            body_as_text=True,
        )
        item: CorrespondenceItem = message_from_graph(raw, "inbox")
        if with_body:
            item = replace(item, body_text=rendered.body_text)
        owner = plan.mailbox_users[mailbox].email
        yield rendered.internet_message_id, item, owner, plan.expected_links(ref)


def meetings(world: World) -> Iterator[tuple[str, CorrespondenceItem, str, ExpectedLinks]]:
    plan = world.meetings
    for per_origin in plan.series:
        for series in per_origin:
            occurrence = plan.occurrence(event_ref(series.origin, series.number, 0))
            owner = plan.mailbox_users[series.origin].email
            raw = event_json(
                occurrence,
                item_id=f"e{occurrence.ref}",
                master_id=f"s{occurrence.ref}",
                mailbox_address=owner,
                created=ANCHOR - timedelta(days=30),
                categories=(),
            )
            yield (
                series.uid,
                meeting_from_graph(raw, "calendar"),
                owner,
                plan.expected_links(series),
            )


def measure(
    world: World, index: CrmIndex, keys: dict[tuple[TargetKind, int], Key], with_body: bool
) -> Tally:
    lookup = InMemoryThreadLookup()
    engine = RulesEngine(index, thread_lookup=lookup)
    tally = Tally()
    stored = 0
    items = [*messages(world, with_body), *meetings(world)]
    for label, item, owner, expected in items:
        result = engine.link(item, owner)
        want = set() if expected.excluded else expected_keys(expected)
        if isinstance(result, Excluded):
            got: set[Key] = set()
            if not expected.excluded:
                tally.exclusion_errors += 1
        else:
            got = {keys[(link.target_kind, link.target_id)] for link in result.links}
            if expected.excluded:
                tally.exclusion_errors += 1
            stored += 1
            if item.kind.value == "message" and result.links:
                message_id = getattr(item, "internet_message_id", None)
                if message_id:
                    lookup.add(message_id, StoredThreadLinks(stored, result.links))
        tally.add(label, expected.category, want, got)
    return tally


def report(name: str, tally: Tally) -> None:
    print(
        f"  {name}: {tally.items:,} items, precision {tally.precision:.4f}, "
        f"recall {tally.recall:.4f} (tp {tally.true_positive:,}, fp {tally.false_positive:,}, "
        f"fn {tally.false_negative:,}), exclusion errors {tally.exclusion_errors}"
    )
    if tally.misses:
        print(f"    missed by category/kind: {dict(tally.misses.most_common(6))}")
    if tally.wrong:
        print(f"    wrong by category/kind: {dict(tally.wrong.most_common(6))}")
    for sample in tally.samples[:3]:
        print(f"    e.g. {sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller company and mailboxes")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    mailboxes, per_mailbox = (3, 400) if args.quick else (8, 2_500)
    t0 = time.perf_counter()
    world = World(
        WorldConfig(
            seed=args.seed, mailboxes=mailboxes, messages_per_mailbox=per_mailbox, anchor=ANCHOR
        )
    )
    index, keys = build_index(world.company)
    print(
        f"rules quality on sandbox seed {args.seed}: {mailboxes} mailboxes x {per_mailbox:,}"
        f" messages, {len(world.company.contacts):,} contacts"
    )
    with_body = measure(world, index, keys, with_body=True)
    report("body at link time", with_body)
    without_body = measure(world, index, keys, with_body=False)
    report("as the Graph driver delivers (no body)", without_body)
    print(f"  {time.perf_counter() - t0:.1f}s")
    print(
        json.dumps(
            {"precision": round(with_body.precision, 4), "recall": round(with_body.recall, 4)}
        )
    )


if __name__ == "__main__":
    main()
