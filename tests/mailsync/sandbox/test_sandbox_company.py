"""The generated company: deterministic, consistent, and written in the import CSV formats."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailsync.sandbox import generate_company, write_crm_csv
from mailsync.sandbox.mailplan import MailPlan, ThreadKind, message_ref

ANCHOR = datetime(2025, 6, 2, tzinfo=UTC)


def test_same_seed_gives_same_company_and_files(tmp_path: Path) -> None:
    # GIVEN two companies from the same seed and one from another
    a, b, other = (generate_company(s, mailboxes=4) for s in (42, 42, 43))
    # WHEN their CRM files are written
    files_a = write_crm_csv(a, tmp_path / "a")
    files_b = write_crm_csv(b, tmp_path / "b")
    files_o = write_crm_csv(other, tmp_path / "o")
    # THEN same seed means byte-identical files, another seed differs
    for kind in ("users", "accounts", "contacts", "opportunities"):
        assert files_a[kind].read_bytes() == files_b[kind].read_bytes()
    assert files_a["contacts"].read_bytes() != files_o["contacts"].read_bytes()


def test_crm_files_use_the_import_columns(tmp_path: Path) -> None:
    company = generate_company(3, mailboxes=2)
    files = write_crm_csv(company, tmp_path)
    headers = {k: next(csv.reader(p.open())) for k, p in files.items()}
    assert headers["accounts"] == ["name", "domains", "owner_email"]
    assert headers["contacts"] == ["first_name", "last_name", "email", "account", "title", "phone"]
    assert headers["opportunities"] == [
        "code", "name", "account", "stage", "status", "amount", "currency", "close_date",
        "owner_email",
    ]  # fmt: skip
    accounts = list(csv.DictReader(files["accounts"].open()))
    contacts = list(csv.DictReader(files["contacts"].open()))
    opportunities = list(csv.DictReader(files["opportunities"].open()))
    names = {row["name"] for row in accounts}
    assert {row["account"] for row in contacts} <= names
    assert {row["account"] for row in opportunities} <= names
    assert any(";" in row["domains"] for row in accounts), "some accounts have two domains"
    assert any(";" in row["email"] for row in contacts), "some contacts have two emails"


def test_company_is_internally_consistent() -> None:
    company = generate_company(9, mailboxes=5)
    emails = [e for c in company.contacts for e in c.emails]
    assert len(emails) == len(set(emails)), "a contact email belongs to one contact"
    domains = [d for a in company.accounts for d in a.domains]
    assert len(domains) == len(set(domains)), "a domain belongs to one account"
    codes = [o.code for o in company.opportunities]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"OPP-\d{6}", code) for code in codes)
    assert {o.status for o in company.opportunities} == {"open", "won", "lost"}
    users = {u.email: u for u in company.users}
    assert sum(u.has_mailbox for u in company.users) == 5
    for user in company.users:
        if user.role == "salesperson":
            assert users[user.manager_email or ""].role == "manager"
    assert all(a.owner_email in users for a in company.accounts)


def test_invalid_size_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="mailboxes must be at least 1"):
        generate_company(1, mailboxes=0)


def _plan(seed: int = 4, mailboxes: int = 3, size: int = 400) -> MailPlan:
    return MailPlan(
        generate_company(seed, mailboxes=mailboxes), messages_per_mailbox=size, anchor=ANCHOR
    )


def test_rendering_is_deterministic_and_threads_are_linked() -> None:
    # GIVEN two plans from the same seed
    first, second = _plan(), _plan()
    for index in range(0, 400, 7):
        ref = message_ref(1, index)
        assert first.render(ref) == second.render(ref)
    # THEN every reply names its parent's Message-ID and shares its conversation
    replies = 0
    for index in range(1, 400):
        message = first.render(message_ref(0, index))
        if message.in_reply_to is None:
            continue
        parent = first.render(message_ref(0, index - 1))
        assert message.in_reply_to == parent.internet_message_id
        assert message.references[-1] == parent.internet_message_id
        assert message.conversation_id == parent.conversation_id
        assert ("In-Reply-To", parent.internet_message_id) in message.headers
        replies += 1
    assert replies > 50


def test_baseline_folders_match_each_messages_copies() -> None:
    plan = _plan()
    folders = plan.refs_by_mailbox_folder()
    placed = {
        (mailbox, folder, ref)
        for mailbox, by_folder in enumerate(folders)
        for folder, refs in by_folder.items()
        for ref in refs
    }
    expected = {(m, f, ref) for ref in plan.iter_refs() for m, f in plan.copies(ref)}
    assert placed == expected


def test_mail_between_two_mailboxes_is_one_message_with_two_copies() -> None:
    plan = _plan()
    shared = [ref for ref in plan.iter_refs() if len(plan.copies(ref)) == 2]
    assert shared, "some mail goes between our own mailboxes"
    folders_seen = set()
    for ref in shared:
        (owner, owner_folder), (peer, peer_folder) = plan.copies(ref)
        assert owner != peer
        folders_seen.add((owner_folder, peer_folder))
    assert ("sentitems", "inbox") in folders_seen


def test_corpus_has_every_kind_with_its_markers_and_labels() -> None:
    plan = _plan(size=1500)
    company = plan.company
    by_kind: dict[ThreadKind, list[int]] = {}
    for ref in plan.iter_refs():
        by_kind.setdefault(plan.render(ref).kind, []).append(ref)
    assert set(by_kind) == set(ThreadKind)
    newsletter = plan.render(by_kind[ThreadKind.NEWSLETTER][0])
    assert dict(newsletter.headers)["Precedence"] == "bulk"
    assert "List-Unsubscribe" in dict(newsletter.headers)
    auto = plan.render(by_kind[ThreadKind.AUTO_REPLY][0])
    assert dict(auto.headers)["Auto-Submitted"] == "auto-replied"
    private = plan.render(by_kind[ThreadKind.PRIVATE][0])
    assert private.sensitivity == "private"
    personal = plan.render(by_kind[ThreadKind.PERSONAL][0])
    assert personal.sender.domain in {
        "gmail.com",
        "outlook.com",
        "yahoo.com",
        "gmx.de",
        "web.de",
        "icloud.com",
    } or any(
        p.domain in {"gmail.com", "outlook.com", "yahoo.com", "gmx.de", "web.de", "icloud.com"}
        for p in personal.to
    )
    reasons = {kind: plan.expected_links(refs[0]).reason for kind, refs in by_kind.items()}
    assert reasons[ThreadKind.PRIVATE] == "private"
    assert reasons[ThreadKind.INTERNAL] == "internal_only"
    assert reasons[ThreadKind.NEWSLETTER] == "bulk"
    assert reasons[ThreadKind.AUTO_REPLY] == "auto_submitted"
    assert reasons[ThreadKind.CUSTOMER] is None
    # Customer mail names its contacts' first emails and their account.
    contact_accounts = {
        c.emails[0]: company.accounts[c.account_index].name for c in company.contacts
    }
    for ref in by_kind[ThreadKind.CUSTOMER][:50]:
        links = plan.expected_links(ref)
        assert links.contacts
        assert {contact_accounts[e] for e in links.contacts} == set(links.accounts)
    # Some subjects carry an opportunity code, and those messages expect that opportunity.
    coded = [
        ref
        for ref in by_kind[ThreadKind.CUSTOMER]
        if re.search(r"OPP-\d{6}", plan.render(ref).subject)
    ]
    assert coded
    for ref in coded:
        code = re.search(r"OPP-\d{6}", plan.render(ref).subject)
        assert code is not None
        assert (code.group(0), "token") in plan.expected_links(ref).opportunities


def test_a_200k_mailbox_is_a_few_arrays() -> None:
    # GIVEN one mailbox of 200k messages THEN the plan holds compact arrays, not objects
    plan = _plan(mailboxes=1, size=200_000)
    assert plan.stream_size == [200_000]
    assert plan.thread_start[0].itemsize == 8
    folders = plan.refs_by_mailbox_folder()[0]
    assert sum(len(refs) for refs in folders.values()) == 200_000
    last = plan.render(message_ref(0, 199_999))
    assert last.sent_at <= ANCHOR.replace(year=ANCHOR.year + 1)
