"""How many messages per second the rules engine links, with 1k and with 1M contacts.

The same generated message stream runs against a small and a large CRM index;
the ratio of the per-message costs shows whether matching stays independent
of the CRM's size (dict lookups, precompiled regexes, no per-message rebuild).
Messages look like real mail: a dozen headers, 2-5 participants (some known
contacts, some unknown, some free-mail), a ~1 kB body, some tracking codes and
some replies whose parent is found by the thread lookup.

Last line: {"msgs_per_s_1k", "msgs_per_s_1m", "cost_ratio"}. Targets: ≥ 50k/s,
ratio ≤ 1.5. ``--quick`` uses fewer messages and 100k instead of 1M contacts.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from datetime import UTC, datetime

from crm_store.items import Address, Direction, LinkSpec, MessageItem, OriginKind, TargetKind
from rules import (
    AccountRecord,
    ContactRecord,
    CrmIndex,
    InMemoryThreadLookup,
    OpportunityRecord,
    RulesEngine,
    StoredThreadLinks,
)

OWNERS = [f"rep{i}@us.example" for i in range(50)]
FREE = ["gmail.com", "outlook.com", "yahoo.com"]
BODY = (
    "Hello,\n\nthanks for the call today. As discussed, please find the revised figures "
    "attached; the volume discount applies from the second year on. Let me know if the "
    "legal team has questions about the data processing terms.\n\n" * 3
)


def build_index(contacts: int) -> CrmIndex:
    """Accounts of ~10 contacts each, one or two open opportunities per account."""
    accounts = max(1, contacts // 10)
    index = CrmIndex.build(user_emails=OWNERS, internal_domains=["us.example"])
    for a in range(accounts):
        index.upsert_account(AccountRecord(a, f"Account {a}", (f"acct{a}.com",), OWNERS[a % 50]))
        index.upsert_opportunity(
            OpportunityRecord(
                a, f"OPP-{a:06d}", f"Deal {a}", a, stage="Proposal", owner_email=OWNERS[a % 50]
            )
        )
        if a % 3 == 0:
            index.upsert_opportunity(
                OpportunityRecord(
                    accounts + a,
                    f"OPP-{accounts + a:06d}",
                    f"Upsell {a}",
                    a,
                    stage="Negotiation",
                    owner_email=OWNERS[a % 50],
                )
            )
    for c in range(contacts):
        a = c % accounts
        index.upsert_contact(ContactRecord(c, f"Contact {c}", (f"c{c}@acct{a}.com",), a))
    return index


def build_messages(
    count: int, contacts: int, seed: int
) -> tuple[list[MessageItem], InMemoryThreadLookup]:
    rng = random.Random(seed)
    accounts = max(1, contacts // 10)
    lookup = InMemoryThreadLookup()
    parents: list[str] = []
    messages: list[MessageItem] = []
    sent = datetime(2026, 5, 1, tzinfo=UTC)
    for n in range(count):
        c = rng.randrange(contacts)
        a = c % accounts
        owner = OWNERS[a % 50]
        external = Address(f"c{c}@acct{a}.com", f"Contact {c}")
        others = [
            Address(f"new{n}@acct{rng.randrange(accounts)}.com"),
            Address(f"p{n}@{rng.choice(FREE)}"),
        ][: rng.randrange(0, 3)]
        outbound = rng.random() < 0.4
        sender = Address(owner) if outbound else external
        to = (external, *others) if outbound else (Address(owner), *others)
        subject = rng.choice(["Quote", "Re: Meeting next week", "Contract draft", "Pricing"])
        body = BODY
        if rng.random() < 0.2:
            subject += f" [OPP-{a:06d}]"
        mid = f"<m{n}.{seed}@mail.example>"
        reply_to = rng.choice(parents) if parents and rng.random() < 0.3 else None
        messages.append(
            MessageItem(
                provider_item_id=f"id{n}",
                folder="Inbox",
                internet_message_id=mid,
                subject=subject,
                sent_at=sent,
                sender=sender,
                to=to,
                cc=(Address(OWNERS[(a + 1) % 50]),) if rng.random() < 0.3 else (),
                conversation_id=f"conv{n % 5000}",
                in_reply_to=reply_to,
                references=(reply_to,) if reply_to else (),
                headers={
                    "Received": "from mx1 by mx2",
                    "Message-ID": mid,
                    "Date": "x",
                    "From": sender.address,
                    "To": to[0].address,
                    "Subject": subject,
                    "MIME-Version": "1.0",
                    "Content-Type": "text/plain; charset=utf-8",
                    "X-MS-Exchange-Organization-SCL": "-1",
                    "DKIM-Signature": "v=1",
                },
                body_text=body,
                direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
            )
        )
        if n % 10 == 0:
            parents.append(mid)
            lookup.add(
                mid,
                StoredThreadLinks(
                    n, (LinkSpec(TargetKind.ACCOUNT, a, OriginKind.RULE, "participant", "x"),)
                ),
            )
    return messages, lookup


class Setup:
    """One CRM size with its engine, messages and the mailbox owner of each message."""

    def __init__(self, contacts: int, count: int) -> None:
        t0 = time.perf_counter()
        self.contacts = contacts
        index = build_index(contacts)
        self.messages, lookup = build_messages(count, contacts, seed=7)
        self.engine = RulesEngine(index, thread_lookup=lookup)
        self.owners = [
            m.sender.address if m.direction is Direction.OUTBOUND and m.sender else m.to[0].address
            for m in self.messages
        ]
        print(
            f"  {contacts:>9,} contacts: index and {count:,} messages built in "
            f"{time.perf_counter() - t0:.1f}s"
        )

    def one_round(self) -> float:
        """Messages per second of this process's CPU time.

        CPU time, not wall time: on a shared machine other processes would
        otherwise count against whichever size happened to run while they did.
        """
        link = self.engine.link
        start = time.process_time()
        for message, owner in zip(self.messages, self.owners, strict=True):
            link(message, owner)
        return len(self.messages) / (time.process_time() - start)


def measure(small: Setup, large: Setup, rounds: int) -> tuple[float, float]:
    """Best rate of each, rounds interleaved so a busy machine slows both alike."""
    best = {small.contacts: 0.0, large.contacts: 0.0}
    for setup in (small, large):
        setup.one_round()  # warm up caches and string hashes
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for setup in (small, large):
                best[setup.contacts] = max(best[setup.contacts], setup.one_round())
    finally:
        gc.enable()
    for setup in (small, large):
        print(f"  {setup.contacts:>9,} contacts: {best[setup.contacts]:,.0f} messages/s")
    return best[small.contacts], best[large.contacts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k messages, 100k contacts")
    args = parser.parse_args()
    count, large, rounds = (20_000, 100_000, 3) if args.quick else (100_000, 1_000_000, 5)
    print(f"rules engine speed: {count:,} messages, best of {rounds} rounds")
    small_rate, large_rate = measure(Setup(1_000, count), Setup(large, count), rounds)
    print(
        json.dumps(
            {
                "msgs_per_s_1k": round(small_rate),
                "msgs_per_s_1m": round(large_rate),
                "cost_ratio": round(small_rate / large_rate, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
