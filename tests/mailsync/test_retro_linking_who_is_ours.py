"""The maintenance pass reads who is ours when it builds its index, not once at start.

The daemon and every cluster ticker build their maintenance pass
(``maintenance_for``) once, as they start, and run it for as long as they
live. A colleague's address makes their domain ours (``InternalParties.known``),
and our own domains never map to an account (``rules.domains``). So when a
user at a domain is added after the start, the pass must treat mail from that
domain as internal: linking it to an account that claims the domain would file
a colleague's mail as a customer's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_store.models import Link
from crm_store.sync_writes import PageWrite, apply_page
from mailsync.config import Settings, load_settings
from mailsync.retro_linking import maintenance_for
from tests.factories import make_account, make_mailbox, make_user, message_item


def settings_in(directory: Path) -> Settings:
    path = directory / "mailsync.toml"
    path.write_text('[rules]\ninternal_domains = ["ourco.example"]\n', encoding="utf-8")
    return load_settings(path, environ={}, cwd=directory)


def store_unmatched(session: Session, mailbox_id: int, sender: str) -> int:
    """A message that matched nothing, stored as a sync stores it: metadata only."""
    item = message_item(
        sender=sender,
        to=("seller@ourco.example",),
        sent_at=datetime.now(UTC),
        subject="Quarterly figures",
        body_text=None,
    )
    written = apply_page(
        session,
        mailbox_id,
        PageWrite(folder="inbox", messages=[item], links={item.message_key: ()}),
    )
    return written.message_ids[item.message_key]


def links_of(sessions: sessionmaker[Session], message_id: int) -> set[tuple[str, int]]:
    with sessions() as session:
        rows = session.execute(
            select(Link.target_kind, Link.target_id).where(Link.item_id == message_id)
        )
        return {(kind, target_id) for kind, target_id in rows}


def test_a_colleague_added_after_start_makes_their_domain_internal_for_the_pass(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    # GIVEN stored, unlinked messages from partner.example and from other.example,
    # neither domain ours nor any account's
    with session_factory() as session:
        mailbox = make_mailbox(session, address="seller@ourco.example", enabled=False)
        make_user(session, email="seller@ourco.example")
        session.commit()
        from_partner = store_unmatched(session, mailbox.id, "bob@partner.example")
        from_other = store_unmatched(session, mailbox.id, "dave@other.example")
        session.commit()
    # AND the daemon (or a cluster node) started: its maintenance pass is built
    maintenance = maintenance_for(settings_in(tmp_path), session_factory)
    # AND only then a user at partner.example is added, making that domain ours
    # AND the CRM gains an account for each domain (the change log records both)
    with session_factory() as session:
        make_user(session, email="carol@partner.example")
        partner = make_account(session, name="Partner Co", domains=["partner.example"])
        other = make_account(session, name="Other Co", domains=["other.example"])
        session.commit()
        partner_id, other_id = partner.id, other.id
    # WHEN the maintenance pass runs
    maintenance()
    # THEN the customer's message is linked to its account by its domain
    assert ("account", other_id) in links_of(session_factory, from_other)
    # AND the colleague-domain message is internal: not filed under the account
    # that claims partner.example
    assert ("account", partner_id) not in links_of(session_factory, from_partner)
