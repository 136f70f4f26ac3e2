"""The rules on the store: live index upkeep, retroactive linking, the purge, and the CLI.

Every test runs on SQLite and PostgreSQL (the ``db`` fixtures).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from crm_store.models import (
    ChangeLogWatermark,
    Contact,
    CrmChange,
    Link,
    Message,
    MessageCopy,
)
from crm_store.sync_writes import PageWrite, apply_page
from mailsync.live_index import LiveCrmIndex
from mailsync.retro_linking import maintenance_job, purge_expired
from rules import RulesSettings
from tests.crm_store.snapshot import store_rows
from tests.factories import make_account, make_contact, make_mailbox, message_item
from tests.mailsync.test_cli_commands import invoke

SAMPLES = Path(__file__).parent / "ingest_samples"


def store_unmatched(session: Session, mailbox_id: int, sender: str, sent_at: datetime) -> int:
    """An item that matched nothing, stored as the sync stores it: metadata only."""
    item = message_item(sender=sender, sent_at=sent_at, subject="Hello there", body_text=None)
    result = apply_page(
        session,
        mailbox_id,
        PageWrite(folder="inbox", messages=[item], links={item.message_key: ()}),
    )
    return result.message_ids[item.message_key]


def test_live_index_learns_a_new_contact_from_the_change_log_without_a_rebuild(
    session: Session,
) -> None:
    # GIVEN an index loaded from a store with one contact
    account = make_account(session, name="Acme", domains=["acme.example"])
    make_contact(session, account=account, emails=["jane@acme.example"])
    session.commit()
    live = LiveCrmIndex.load(session)
    assert live.index.contact_for("bob@acme.example") is None
    # WHEN a second contact is created and one is deleted, then the index refreshes
    bob = make_contact(session, account=account, emails=["bob@acme.example"])
    session.commit()
    live.refresh(session)
    # THEN it knows Bob, by patching (no rebuild)
    found = live.index.contact_for("bob@acme.example")
    assert found is not None and found.id == bob.id and found.account_id == account.id
    assert (live.patches, live.rebuilds) == (1, 0)
    # AND a refresh with nothing new reads nothing more
    live.refresh(session)
    assert live.patches == 1
    # AND a deleted contact leaves the index
    session.delete(bob)
    session.commit()
    live.refresh(session)
    assert live.index.contact_for("bob@acme.example") is None


def test_importing_a_contact_links_earlier_unmatched_mail_and_asks_for_its_body(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    # GIVEN a stored message from an unknown sender (metadata only), and Acme in the CRM
    mailbox = make_mailbox(session, address="seller@ourco.example")
    make_account(session, name="Acme", domains=["acme.example"])
    session.commit()
    message_id = store_unmatched(session, mailbox.id, "bob@newco.example", datetime.now(UTC))
    session.commit()
    stored = session.get(Message, message_id)
    assert stored is not None and stored.tracked is False
    # WHEN a contacts file naming that sender is imported
    data = tmp_path / "contacts.csv"
    data.write_text(
        "first_name,last_name,email,account,title,phone\nBob,New,bob@newco.example,Acme,,\n"
    )
    result = invoke(["import", "contacts", str(data)], env={"MAILSYNC_DATABASE_URL": db_url})
    # THEN the message is linked to the contact and its account, and its body is pending
    assert result.exit_code == 0, result.output
    assert "linked 1 earlier item(s)" in result.output
    session.rollback()
    links = session.execute(
        select(Link.target_kind, Link.evidence).where(Link.item_id == message_id)
    ).all()
    assert {kind for kind, _ in links} == {"contact", "account"}
    assert all("bob@newco.example" in evidence for _, evidence in links)
    message = session.get(Message, message_id)
    assert message is not None and message.tracked and message.body_pending
    # AND importing the same file again links nothing more
    again = invoke(["import", "contacts", str(data)], env={"MAILSYNC_DATABASE_URL": db_url})
    assert again.exit_code == 0 and "linked" not in again.output


def test_purge_deletes_only_unmatched_items_past_the_window(session: Session) -> None:
    # GIVEN an old and a recent unmatched message, and an old one a rule linked
    mailbox = make_mailbox(session, address="seller@ourco.example")
    account = make_account(session, name="Acme", domains=["acme.example"])
    contact = make_contact(session, account=account, emails=["jane@acme.example"])
    session.commit()
    now = datetime.now(UTC)
    old = store_unmatched(session, mailbox.id, "x@nowhere.example", now - timedelta(days=120))
    recent = store_unmatched(session, mailbox.id, "y@nowhere.example", now - timedelta(days=5))
    linked_item = message_item(sender="jane@acme.example", sent_at=now - timedelta(days=200))
    from crm_store.items import LinkSpec, OriginKind, TargetKind

    spec = LinkSpec(TargetKind.CONTACT, contact.id, OriginKind.RULE, "participant", "jane")
    written = apply_page(
        session,
        mailbox.id,
        PageWrite(
            folder="inbox",
            messages=[linked_item],
            links={linked_item.message_key: (spec,)},
            tracked_keys=frozenset({linked_item.message_key}),
        ),
    )
    session.commit()
    # WHEN the 90-day window is purged
    counts = purge_expired(session, RulesSettings(retro_window_days=90), now)
    session.commit()
    # THEN only the old unmatched message (and its copy) is gone
    assert counts.messages == 1
    remaining = set(session.scalars(select(Message.id)))
    assert old not in remaining
    assert {recent, written.message_ids[linked_item.message_key]} <= remaining
    assert session.scalar(select(func.count()).where(MessageCopy.message_id == old)) == 0


def test_rules_check_names_rule_key_and_allowed_and_exits_1(tmp_path: Path) -> None:
    # GIVEN a rules file with a bad regex and an unknown action
    bad = tmp_path / "rules.toml"
    bad.write_text(
        '[[rule]]\nname = "Acme"\nwhen = { subject = "([" }\nthen = { frobnicate = true }\n'
    )
    good = tmp_path / "good.toml"
    good.write_text(
        '[[rule]]\nname = "Acme"\nwhen = { from_domain = "acme.com" }\n'
        "then = { store_without_body = true }\n"
    )
    # WHEN checked
    result = invoke(["rules", "check", str(bad)])
    # THEN each error names the rule, the key and what is allowed; exit 1
    assert result.exit_code == 1
    assert "rule 'Acme', key 'then.frobnicate'" in result.output
    assert "Allowed:" in result.output and "link_opportunity" in result.output
    assert "([" in result.output
    # AND a good file passes
    assert invoke(["rules", "check", str(good)]).exit_code == 0


def test_rules_dry_run_writes_nothing(session: Session, db_url: str, tmp_path: Path) -> None:
    # GIVEN a store with a contact and two stored messages, one linked
    mailbox = make_mailbox(session, address="seller@ourco.example")
    account = make_account(session, name="Acme", domains=["acme.example"])
    make_contact(session, account=account, emails=["jane@acme.example"])
    session.commit()
    store_unmatched(session, mailbox.id, "jane@acme.example", datetime.now(UTC))
    session.commit()
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nname = "no acme"\nwhen = { from_domain = "acme.example" }\n'
        "then = { ignore = true }\n"
    )
    before = store_rows(session)
    # WHEN the dry run replays the last 30 days with and without a rules file
    env = {"MAILSYNC_DATABASE_URL": db_url}
    plain = invoke(["rules", "dry-run", "--since", "30d"], env=env)
    tried = invoke(["rules", "dry-run", "--rules", str(rules), "--since", "30d"], env=env)
    # THEN it reports what would change (a link; an ignore) and the store is unchanged
    assert plain.exit_code == 0 and "would link 2" in plain.output, plain.output
    assert tried.exit_code == 0 and "ignore 1" in tried.output and "rule:no acme" in tried.output
    session.rollback()
    assert store_rows(session) == before
    # AND a bad --since is refused naming the forms allowed
    bad = invoke(["rules", "dry-run", "--since", "soon"], env=env)
    assert bad.exit_code == 2 and "30d" in bad.output


def test_rules_explain_prints_each_step_and_reports_a_broken_file(
    session: Session, db_url: str
) -> None:
    # GIVEN an empty CRM WHEN a good and a broken file are explained
    result = invoke(
        ["rules", "explain", str(SAMPLES / "invitation.eml"), str(SAMPLES / "garbage.eml")],
        env={"MAILSYNC_DATABASE_URL": db_url},
    )
    # THEN each step of the good one is printed, the broken one named with its reason, exit 1
    assert result.exit_code == 1
    assert "tracking_code:" in result.output and "participant:" in result.output
    assert "garbage.eml: not an email" in result.output
    assert session.scalar(select(func.count()).select_from(Message)) == 0


def _rows(session: Session) -> dict[str, list[object]]:
    """The store minus the delivery counters (evidence included, compared exactly)."""
    return store_rows(session, skip=frozenset({"exclusion_counts"}))


def test_ingest_twice_gives_the_same_rows_and_a_broken_file_does_not_stop_the_rest(
    session: Session, db_url: str, session_factory: sessionmaker[Session]
) -> None:
    # GIVEN a CRM where the invitation's opportunity code exists
    account = make_account(session, name="Us Example", domains=["us.example"])
    make_contact(session, account=account, emails=["alice@us.example"])
    session.commit()
    files = [str(SAMPLES / n) for n in ("export.mbox", "invitation.eml", "garbage.eml")]
    env = {"MAILSYNC_DATABASE_URL": db_url}
    # WHEN the files are ingested twice
    first = invoke(["ingest", *files, "--mailbox", "Seller@OurCo.example"], env=env)
    session.rollback()
    after_first = _rows(session)
    second = invoke(["ingest", *files, "--mailbox", "seller@ourco.example"], env=env)
    session.rollback()
    # THEN the broken file is reported by name and reason, the others are stored, exit 1
    assert first.exit_code == 1 and "garbage.eml: not an email" in first.output
    assert (session.scalar(select(func.count()).select_from(Message)) or 0) >= 2
    assert (session.scalar(select(func.count()).select_from(Link)) or 0) >= 1
    # AND the mbox's reply inherited its parent's links within the first run's page
    assert any(e.startswith("thread: ") for e in session.scalars(select(Link.evidence)))
    # AND the second run (parent now stored) changes no row, thread evidence included
    assert second.exit_code == 1
    assert _rows(session) == after_first


def test_a_contact_inserted_with_plain_sql_links_earlier_mail_after_one_maintenance_pass(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    # GIVEN a stored unmatched message from an unknown sender, and Acme in the CRM
    mailbox = make_mailbox(session, address="seller@ourco.example")
    account = make_account(session, name="Acme", domains=["acme.example"])
    session.commit()
    now = datetime.now(UTC)
    message_id = store_unmatched(session, mailbox.id, "bob@newco.example", now)
    session.commit()
    job = maintenance_job(session_factory, RulesSettings(), lambda: now)
    job()  # whatever the log held before is applied; nothing matches yet
    assert session.scalar(select(func.count()).where(Link.item_id == message_id)) == 0
    # WHEN a script inserts the contact with SQL (no API, no import) and maintenance runs once
    session.execute(
        text("INSERT INTO contacts (first_name, last_name, account_id) VALUES ('Bob', 'New', :a)"),
        {"a": account.id},
    )
    contact_id = session.scalar(select(func.max(Contact.id)))
    session.execute(
        text("INSERT INTO contact_emails (contact_id, email, position) VALUES (:c, :e, 0)"),
        {"c": contact_id, "e": "bob@newco.example"},
    )
    session.commit()
    job()
    # THEN the earlier message is linked to the contact and its account, body pending
    session.expire_all()
    links = set(
        session.execute(
            select(Link.target_kind, Link.target_id).where(Link.item_id == message_id)
        ).all()
    )
    assert links == {("contact", contact_id), ("account", account.id)}
    message = session.get(Message, message_id)
    assert message is not None and message.tracked and message.body_pending
    # AND the watermark moved with the links, so another pass links nothing again
    watermark = session.scalar(select(ChangeLogWatermark.last_change_id))
    assert watermark == session.scalar(select(func.max(CrmChange.id)))
    job()
    assert session.scalar(select(func.count()).where(Link.item_id == message_id)) == 2
