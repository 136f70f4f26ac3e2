"""The mail of every mailbox, planned compactly and rendered on demand.

Each mailbox has an *origin stream* of messages numbered 0..N-1, cut into
threads. Only four small arrays per mailbox are kept (thread start, length,
kind flags, the colleague mailbox involved); a message's participants, ids,
subject and body are regenerated from ``(seed, mailbox, thread, position)``
whenever they are served. A message sent between two of our mailboxes is one
origin message with a copy in each mailbox, so both copies render the same
internetMessageId, subject and body.

Ground-truth labels come from the generator's *intent* (which contacts and
account a thread was written about, why it must be excluded), not from
re-running matching logic, so the rules bench measures the rules against
something independent of them.
"""

from __future__ import annotations

import base64
import random
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import IntEnum
from functools import lru_cache

from mailsync.sandbox import names
from mailsync.sandbox.company import Company, User
from mailsync.sandbox.mixing import mix, rng_for

INBOX = "inbox"
SENTITEMS = "sentitems"
ARCHIVE = "archive"
DELETEDITEMS = "deleteditems"
MAIL_FOLDERS = (INBOX, SENTITEMS, ARCHIVE, DELETEDITEMS)

_TAG_PLAN = 1
_TAG_THREAD = 2
_TAG_MESSAGE = 3
_TAG_ID = 4

REF_MAILBOX_SHIFT = 40
REF_INDEX_MASK = (1 << REF_MAILBOX_SHIFT) - 1


class ThreadKind(IntEnum):
    CUSTOMER = 0
    INTERNAL = 1
    NEWSLETTER = 2
    AUTO_REPLY = 3
    PERSONAL = 4
    PRIVATE = 5
    PROSPECT = 6
    UNKNOWN_EXTERNAL = 7


_KIND_WEIGHTS = (
    (ThreadKind.CUSTOMER, 0.50),
    (ThreadKind.INTERNAL, 0.12),
    (ThreadKind.NEWSLETTER, 0.10),
    (ThreadKind.AUTO_REPLY, 0.04),
    (ThreadKind.PERSONAL, 0.08),
    (ThreadKind.PRIVATE, 0.04),
    (ThreadKind.PROSPECT, 0.07),
    (ThreadKind.UNKNOWN_EXTERNAL, 0.05),
)
_MAX_LENGTH = {
    ThreadKind.CUSTOMER: 6,
    ThreadKind.INTERNAL: 4,
    ThreadKind.PERSONAL: 3,
    ThreadKind.PROSPECT: 2,
    ThreadKind.UNKNOWN_EXTERNAL: 2,
}
_FLAG_STARTS_INBOUND = 0x10

EXCLUSION_BY_KIND = {
    ThreadKind.INTERNAL: "internal_only",
    ThreadKind.NEWSLETTER: "bulk",
    ThreadKind.AUTO_REPLY: "auto_submitted",
    ThreadKind.PRIVATE: "private",
}


def message_ref(mailbox: int, index: int) -> int:
    return (mailbox << REF_MAILBOX_SHIFT) | index


def split_ref(ref: int) -> tuple[int, int]:
    return ref >> REF_MAILBOX_SHIFT, ref & REF_INDEX_MASK


@dataclass(frozen=True, slots=True)
class Person:
    address: str
    name: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class ThreadSpec:
    """What one thread is about; every message of it is derived from this."""

    mailbox: int
    thread: int
    root_thread: int
    kind: ThreadKind
    start_index: int
    length: int
    k_offset: int
    starts_inbound: bool
    owner: Person
    counterparts: tuple[Person, ...]
    cc_external: tuple[Person, ...]
    colleagues: tuple[Person, ...]
    peer_mailbox: int
    account_index: int | None
    contact_indexes: tuple[int, ...]
    opportunity_index: int | None
    code_in: str  # subject | body | none
    subject: str
    start_time: datetime
    gap: timedelta
    extra_headers: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One message as every copy of it shows it (copy details are added by the server)."""

    ref: int
    internet_message_id: str
    conversation_id: str
    conversation_index: str
    subject: str
    sent_at: datetime
    sender: Person
    to: tuple[Person, ...]
    cc: tuple[Person, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    body_text: str
    sensitivity: str
    has_attachments: bool
    inbound: bool
    kind: ThreadKind


@dataclass(frozen=True, slots=True)
class ExpectedLinks:
    """What a correct linker does with one item: links, or exclusion and why."""

    excluded: bool
    reason: str | None
    category: str
    contacts: tuple[str, ...]  # each contact's first email (its key in exports)
    accounts: tuple[str, ...]
    opportunities: tuple[tuple[str, str], ...]  # (code, evidence: token | thread)
    inferred_opportunity: str | None
    suggested_opportunities: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "excluded": self.excluded,
            "reason": self.reason,
            "category": self.category,
            "contacts": list(self.contacts),
            "accounts": list(self.accounts),
            "opportunities": [{"code": c, "evidence": e} for c, e in self.opportunities],
            "inferred_opportunity": self.inferred_opportunity,
            "suggested_opportunities": list(self.suggested_opportunities),
        }


class MailPlan:
    """The origin streams of all mailboxes, and how to render any message of them."""

    def __init__(
        self,
        company: Company,
        *,
        messages_per_mailbox: int,
        anchor: datetime,
        days_back: int = 365,
    ) -> None:
        self.company = company
        self.seed = company.seed
        self.anchor = anchor
        self.days_back = days_back
        self.mailbox_users: tuple[User, ...] = company.mailbox_users
        self.n_mailboxes = len(self.mailbox_users)
        self.baseline_size = messages_per_mailbox
        self.thread_start: list[array[int]] = []
        self.thread_length: list[array[int]] = []
        self.thread_flags: list[array[int]] = []
        self.thread_peer: list[array[int]] = []
        self.stream_size: list[int] = []
        # Threads appended while running that continue an earlier thread.
        self.continuations: dict[tuple[int, int], tuple[int, int]] = {}
        self.extra_start_times: dict[tuple[int, int], datetime] = {}
        self._other_users = [u for u in company.users if not u.has_mailbox]
        self._owned_accounts = [
            [a.index for a in company.accounts if a.owner_email == u.email]
            for u in self.mailbox_users
        ]
        self.thread_spec = lru_cache(maxsize=8192)(self._thread_spec)
        self._message_ids: dict[tuple[int, int, int], str] = {}
        for m in range(self.n_mailboxes):
            self._plan_mailbox(m, messages_per_mailbox)

    # ---- planning -------------------------------------------------------------------

    def _plan_mailbox(self, m: int, size: int) -> None:
        rng = rng_for(self.seed, _TAG_PLAN, m)
        starts, lengths, flags, peers = array("Q"), array("B"), array("B"), array("h")
        pos = 0
        while pos < size:
            kind, length, starts_inbound, peer = self._draw_thread(rng, m)
            length = min(length, size - pos)
            starts.append(pos)
            lengths.append(length)
            flags.append(int(kind) | (_FLAG_STARTS_INBOUND if starts_inbound else 0))
            peers.append(peer)
            pos += length
        self.thread_start.append(starts)
        self.thread_length.append(lengths)
        self.thread_flags.append(flags)
        self.thread_peer.append(peers)
        self.stream_size.append(pos)

    def _draw_thread(self, rng: random.Random, m: int) -> tuple[ThreadKind, int, bool, int]:
        roll = rng.random()
        kind = ThreadKind.CUSTOMER
        for candidate, weight in _KIND_WEIGHTS:
            if roll < weight:
                kind = candidate
                break
            roll -= weight
        max_len = _MAX_LENGTH.get(kind, 1)
        length = 1 + int(rng.random() ** 1.6 * max_len) if max_len > 1 else 1
        length = min(length, max_len)
        if kind in (ThreadKind.NEWSLETTER, ThreadKind.AUTO_REPLY):
            starts_inbound = True
        else:
            starts_inbound = rng.random() < 0.55
        peer = -1
        others = self.n_mailboxes - 1
        if others > 0:
            chance = {ThreadKind.CUSTOMER: 0.15, ThreadKind.INTERNAL: 0.6}.get(kind, 0.0)
            if rng.random() < chance:
                peer = (m + 1 + int(rng.random() * others)) % self.n_mailboxes
        return kind, length, starts_inbound, peer

    def add_thread(
        self,
        m: int,
        length: int,
        *,
        kind: ThreadKind | None = None,
        continue_thread: int | None = None,
        start_time: datetime,
        draw: int = 0,
    ) -> int:
        """Append a thread to mailbox ``m``'s stream (new mail); returns its thread number."""
        t = len(self.thread_start[m])
        rng = rng_for(self.seed, _TAG_PLAN, m, t, draw)
        if continue_thread is not None:
            flags = self.thread_flags[m][continue_thread]
            peer = self.thread_peer[m][continue_thread]
            root, offset = self.continuations.get((m, continue_thread), (continue_thread, 0))
            offset += self.thread_length[m][continue_thread]
            self.continuations[(m, t)] = (root, offset)
        else:
            drawn_kind, _, starts_inbound, peer = self._draw_thread(rng, m)
            kind = drawn_kind if kind is None else kind
            flags = int(kind) | (_FLAG_STARTS_INBOUND if starts_inbound else 0)
        self.thread_start[m].append(self.stream_size[m])
        self.thread_length[m].append(length)
        self.thread_flags[m].append(flags)
        self.thread_peer[m].append(peer)
        self.extra_start_times[(m, t)] = start_time
        self.stream_size[m] += length
        return t

    def thread_of(self, m: int, index: int) -> int:
        return bisect_right(self.thread_start[m], index) - 1

    def thread_count(self, m: int) -> int:
        return len(self.thread_start[m])

    # ---- copies -----------------------------------------------------------------------

    def copies(self, ref: int) -> list[tuple[int, str]]:
        """(mailbox, folder) of every copy the message had when it was delivered."""
        m, index = split_ref(ref)
        t = self.thread_of(m, index)
        flags = self.thread_flags[m][t]
        kind = ThreadKind(flags & 0x0F)
        root, offset = self.continuations.get((m, t), (t, 0))
        if root != t:
            flags = self.thread_flags[m][root]
        abs_k = offset + index - self.thread_start[m][t]
        inbound = (abs_k % 2 == 0) == bool(flags & _FLAG_STARTS_INBOUND)
        own_folder = INBOX if inbound else SENTITEMS
        if inbound and index < self.baseline_size:
            h = mix(self.seed, _TAG_ID, ref) % 211
            if h < 5:
                own_folder = ARCHIVE
            elif h == 5:
                own_folder = DELETEDITEMS
        result = [(m, own_folder)]
        peer = self.thread_peer[m][t]
        if peer >= 0:
            if kind == ThreadKind.INTERNAL:
                result.append((peer, SENTITEMS if inbound else INBOX))
            else:
                result.append((peer, INBOX))
        return result

    def refs_by_mailbox_folder(self) -> list[dict[str, array[int]]]:
        """Baseline folder contents of every mailbox, built once at start-up.

        Inlines the logic of :meth:`copies` (which stays the reference for single
        messages) because this loop runs once per message at start-up.
        """
        folders: list[dict[str, array[int]]] = [
            {f: array("Q") for f in MAIL_FOLDERS} for _ in range(self.n_mailboxes)
        ]
        seed = self.seed
        for m in range(self.n_mailboxes):
            base = m << REF_MAILBOX_SHIFT
            own = folders[m]
            own_inbox, own_sent = own[INBOX], own[SENTITEMS]
            starts, lengths = self.thread_start[m], self.thread_length[m]
            flags_arr, peers = self.thread_flags[m], self.thread_peer[m]
            for t in range(len(starts)):
                start, flags, peer = starts[t], flags_arr[t], peers[t]
                starts_inbound = bool(flags & _FLAG_STARTS_INBOUND)
                internal = (flags & 0x0F) == ThreadKind.INTERNAL
                for index in range(start, start + lengths[t]):
                    ref = base | index
                    inbound = ((index - start) % 2 == 0) == starts_inbound
                    if inbound:
                        h = mix(seed, _TAG_ID, ref) % 211
                        if h < 5:
                            own[ARCHIVE].append(ref)
                        elif h == 5:
                            own[DELETEDITEMS].append(ref)
                        else:
                            own_inbox.append(ref)
                    else:
                        own_sent.append(ref)
                    if peer >= 0:
                        folder = (SENTITEMS if inbound else INBOX) if internal else INBOX
                        folders[peer][folder].append(ref)
        return folders

    # ---- rendering ----------------------------------------------------------------------

    def _person(self, user: User) -> Person:
        return Person(user.email, user.display_name)

    def _thread_spec(self, m: int, t: int) -> ThreadSpec:
        root, offset = self.continuations.get((m, t), (t, 0))
        if root != t:
            base = self.thread_spec(m, root)
            return replace(
                base,
                thread=t,
                start_index=self.thread_start[m][t],
                length=self.thread_length[m][t],
                k_offset=offset,
                start_time=self.extra_start_times[(m, t)],
            )
        return self._root_spec(m, t)

    def _root_spec(self, m: int, t: int) -> ThreadSpec:
        company = self.company
        rng = rng_for(self.seed, _TAG_THREAD, m, t)
        flags = self.thread_flags[m][t]
        kind = ThreadKind(flags & 0x0F)
        peer = self.thread_peer[m][t]
        start_index = self.thread_start[m][t]
        length = self.thread_length[m][t]
        owner = self._person(self.mailbox_users[m])
        counterparts: tuple[Person, ...] = ()
        cc_external: tuple[Person, ...] = ()
        colleagues: tuple[Person, ...] = ()
        account_index: int | None = None
        contact_indexes: tuple[int, ...] = ()
        opp_index: int | None = None
        code_in = "none"
        headers: tuple[tuple[str, str], ...] = ()
        topic = rng.choice(names.OPPORTUNITY_TOPICS)
        subject = ""
        if peer >= 0:
            colleagues = (self._person(self.mailbox_users[peer]),)
        if kind in (ThreadKind.CUSTOMER, ThreadKind.PRIVATE, ThreadKind.AUTO_REPLY):
            account_index = self._pick_account(rng, m)
            pool = company.contacts_by_account[account_index]
            chosen = rng.sample(pool, min(len(pool), 1 if rng.random() < 0.6 else 2))
            if kind == ThreadKind.AUTO_REPLY:
                chosen = chosen[:1]
            contact_indexes = tuple(chosen)
            counterparts = tuple(self._contact_person(rng, i) for i in chosen)
            opps = company.opportunities_by_account[account_index]
            opp_index = rng.choice(opps)
            topic = company.opportunities[opp_index].name.rpartition(" - ")[2]
            subject = rng.choice(names.CUSTOMER_SUBJECTS).format(topic=topic)
            if kind == ThreadKind.CUSTOMER:
                roll = rng.random()
                code_in = "subject" if roll < 0.3 else "body" if roll < 0.45 else "none"
                if code_in == "subject":
                    code = company.opportunities[opp_index].code
                    subject = f"{subject} [{code}]" if rng.random() < 0.5 else f"{code}: {subject}"
                domain = company.accounts[account_index].domains[0]
                if rng.random() < 0.1:
                    role = rng.choice(("purchasing", "accounts.payable", "info", "legal"))
                    cc_external = (Person(f"{role}@{domain}", role.replace(".", " ").title()),)
                if peer < 0 and rng.random() < 0.1:
                    colleagues = (self._person(rng.choice(self._other_users)),)
            elif kind == ThreadKind.AUTO_REPLY:
                subject = f"Automatic reply: {subject}"
                headers = (("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All"))
                opp_index = None
        elif kind == ThreadKind.INTERNAL:
            if not colleagues:
                colleagues = (self._person(rng.choice(self._other_users)),)
            counterparts = colleagues
            colleagues = ()
            subject = rng.choice(names.INTERNAL_SUBJECTS)
        elif kind == ThreadKind.NEWSLETTER:
            name, address = rng.choice(names.NEWSLETTER_SENDERS)
            counterparts = (Person(address, name),)
            subject = rng.choice(names.NEWSLETTER_SUBJECTS)
            unsubscribe = f"<mailto:unsubscribe@{address.partition('@')[2]}?subject=u{t}>"
            headers = (("List-Unsubscribe", unsubscribe), ("Precedence", "bulk"))
        elif kind == ThreadKind.PERSONAL:
            first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
            free = rng.choice(names.FREE_MAIL_DOMAINS)
            address = f"{first}{last}{rng.randint(1, 999)}@{free}".lower()
            counterparts = (Person(address, f"{first} {last}"),)
            subject = rng.choice(names.PERSONAL_SUBJECTS)
        elif kind == ThreadKind.PROSPECT:
            account_index = rng.randrange(len(company.accounts))
            domain = rng.choice(company.accounts[account_index].domains)
            first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
            address = f"{first}.{last}@{domain}".lower()
            counterparts = (Person(address, f"{first} {last}"),)
            subject = f"Enquiry about {topic.lower()}"
        else:  # UNKNOWN_EXTERNAL
            first, last = rng.choice(names.FIRST_NAMES), rng.choice(names.LAST_NAMES)
            domain = f"{rng.choice(names.COMPANY_PREFIXES).lower()}-consulting.io"
            counterparts = (Person(f"{first}.{last}@{domain}".lower(), f"{first} {last}"),)
            subject = f"Introduction: {first} {last} ({domain})"
        gap = timedelta(minutes=rng.randint(15, 60 * 30))
        fraction = start_index / max(1, self.baseline_size)
        start_time = (
            self.anchor
            - timedelta(days=self.days_back * (1.0 - fraction))
            - gap * length
            + timedelta(minutes=rng.randint(0, 240))
        ).replace(microsecond=0)
        return ThreadSpec(
            mailbox=m,
            thread=t,
            root_thread=t,
            kind=kind,
            start_index=start_index,
            length=length,
            k_offset=0,
            starts_inbound=bool(flags & _FLAG_STARTS_INBOUND),
            owner=owner,
            counterparts=counterparts,
            cc_external=cc_external,
            colleagues=colleagues,
            peer_mailbox=peer,
            account_index=account_index,
            contact_indexes=contact_indexes,
            opportunity_index=opp_index,
            code_in=code_in,
            subject=subject,
            start_time=start_time,
            gap=gap,
            extra_headers=headers,
        )

    def _pick_account(self, rng: random.Random, m: int) -> int:
        owned = self._owned_accounts[m]
        if owned and rng.random() < 0.8:
            return int(rng.choice(owned))
        return int(rng.random() * len(self.company.accounts))

    def _contact_person(self, rng: random.Random, contact_index: int) -> Person:
        contact = self.company.contacts[contact_index]
        use_second = len(contact.emails) > 1 and rng.random() < 0.3
        address = contact.emails[1] if use_second else contact.emails[0]
        return Person(address, contact.display_name)

    def _is_inbound(self, spec: ThreadSpec, abs_k: int) -> bool:
        return (abs_k % 2 == 0) == spec.starts_inbound

    def _sender(self, spec: ThreadSpec, abs_k: int) -> Person:
        if self._is_inbound(spec, abs_k):
            return spec.counterparts[abs_k % len(spec.counterparts)]
        return spec.owner

    def message_id(self, spec: ThreadSpec, abs_k: int) -> str:
        """Cached (bounded) because each reply repeats its ancestors' ids in References."""
        key = (spec.mailbox, spec.root_thread, abs_k)
        found = self._message_ids.get(key)
        if found is None:
            h = mix(self.seed, _TAG_MESSAGE, spec.mailbox, spec.root_thread, abs_k)
            found = f"<{h:016x}.{abs_k}@{self._sender(spec, abs_k).domain}>"
            if len(self._message_ids) > 100_000:
                self._message_ids.clear()
            self._message_ids[key] = found
        return found

    def conversation_id(self, spec: ThreadSpec) -> str:
        raw = mix(self.seed, _TAG_THREAD, spec.mailbox, spec.root_thread).to_bytes(8, "big")
        return "AAQkA" + base64.urlsafe_b64encode(raw * 3).decode().rstrip("=")

    def render(self, ref: int, *, with_body: bool = True) -> RenderedMessage:
        """The message behind ``ref``; ``with_body=False`` leaves ``body_text`` empty.

        Skipping the body matters when serving delta pages that do not select it.
        """
        m, index = split_ref(ref)
        spec = self.thread_spec(m, self.thread_of(m, index))
        abs_k = spec.k_offset + index - spec.start_index
        inbound = self._is_inbound(spec, abs_k)
        sender = self._sender(spec, abs_k)
        if inbound:
            to: tuple[Person, ...] = (spec.owner,)
            others = tuple(p for p in spec.counterparts if p != sender)
            cc = others + spec.cc_external + spec.colleagues
        else:
            to = spec.counterparts
            cc = spec.cc_external + spec.colleagues
        subject = spec.subject if abs_k == 0 else f"RE: {spec.subject}"
        in_reply_to = self.message_id(spec, abs_k - 1) if abs_k > 0 else None
        references = tuple(self.message_id(spec, k) for k in range(max(0, abs_k - 10), abs_k))
        sent_at = spec.start_time + spec.gap * (index - spec.start_index)
        body = self._body(spec, abs_k, sender) if with_body else ""
        mid = self.message_id(spec, abs_k)
        headers: list[tuple[str, str]] = [
            ("Message-ID", mid),
            ("From", f"{sender.name} <{sender.address}>"),
            ("Subject", subject),
        ]
        if in_reply_to:
            headers.append(("In-Reply-To", in_reply_to))
            headers.append(("References", " ".join(references)))
        headers.extend(spec.extra_headers)
        sensitivity = "private" if spec.kind == ThreadKind.PRIVATE else "normal"
        if sensitivity == "private":
            headers.append(("Sensitivity", "Private"))
        conv_index = base64.b64encode(
            mix(self.seed, spec.root_thread, m).to_bytes(8, "big") * 2 + bytes(6) + bytes(5) * abs_k
        ).decode()
        return RenderedMessage(
            ref=ref,
            internet_message_id=mid,
            conversation_id=self.conversation_id(spec),
            conversation_index=conv_index,
            subject=subject,
            sent_at=sent_at,
            sender=sender,
            to=to,
            cc=cc,
            in_reply_to=in_reply_to,
            references=references,
            headers=tuple(headers),
            body_text=body,
            sensitivity=sensitivity,
            has_attachments=mix(self.seed, ref, 7) % 9 == 0,
            inbound=inbound,
            kind=spec.kind,
        )

    def _own_text(self, spec: ThreadSpec, abs_k: int, sender: Person) -> str:
        rng = rng_for(self.seed, _TAG_MESSAGE, spec.mailbox, spec.root_thread, abs_k, 1)
        first = sender.name.split(" ")[0] if sender.name else "there"
        lines = [f"Hello,\n\n{rng.choice(names.SENTENCES)} {rng.choice(names.SENTENCES)}"]
        if abs_k == 0 and spec.code_in == "body" and spec.opportunity_index is not None:
            code = self.company.opportunities[spec.opportunity_index].code
            lines.append(f"Our reference for this deal: {code}.")
        lines.append(f"Best regards,\n{first}")
        return "\n\n".join(lines)

    def _body(self, spec: ThreadSpec, abs_k: int, sender: Person) -> str:
        own = self._own_text(spec, abs_k, sender)
        if abs_k == 0:
            return own
        previous_sender = self._sender(spec, abs_k - 1)
        quoted = self._own_text(spec, abs_k - 1, previous_sender)
        quoted_lines = "\n".join(f"> {line}" for line in quoted.splitlines())
        return f"{own}\n\nFrom: {previous_sender.name} <{previous_sender.address}>\n{quoted_lines}"

    # ---- ground truth -------------------------------------------------------------------

    def expected_links(self, ref: int) -> ExpectedLinks:
        m, index = split_ref(ref)
        spec = self.thread_spec(m, self.thread_of(m, index))
        abs_k = spec.k_offset + index - spec.start_index
        company = self.company
        reason = EXCLUSION_BY_KIND.get(spec.kind)
        category = spec.kind.name.lower()
        if reason is not None:
            return ExpectedLinks(True, reason, category, (), (), (), None, ())
        contacts = tuple(company.contacts[i].emails[0] for i in spec.contact_indexes)
        accounts: tuple[str, ...] = ()
        if spec.account_index is not None:
            accounts = (company.accounts[spec.account_index].name,)
        opportunities: tuple[tuple[str, str], ...] = ()
        inferred: str | None = None
        suggested: tuple[str, ...] = ()
        if spec.opportunity_index is not None and spec.code_in != "none":
            code = company.opportunities[spec.opportunity_index].code
            in_message = spec.code_in == "subject" or abs_k <= 1
            opportunities = ((code, "token" if in_message else "thread"),)
        elif spec.account_index is not None:
            mine = company.open_opportunities(spec.account_index, spec.owner.address)
            if len(mine) == 1:
                inferred = mine[0].code
            elif len(mine) > 1:
                suggested = tuple(o.code for o in mine)
        return ExpectedLinks(
            False, None, category, contacts, accounts, opportunities, inferred, suggested
        )

    def iter_refs(self) -> Iterator[int]:
        for m in range(self.n_mailboxes):
            base = m << REF_MAILBOX_SHIFT
            for index in range(self.stream_size[m]):
                yield base | index
