"""`mailsync demo [--once]`: a whole working installation in one command.

Starts the Graph sandbox with a seeded company, writes and imports that
company's CRM, registers its mailboxes, runs a full sync through the real
msal + Graph driver, and prints what was linked. Without ``--once`` the
daemon then keeps syncing until Ctrl-C. The demo's own config file (pointing
at the sandbox, with the store of the current configuration) is written to
``--workdir`` so ``mailsync --config … status`` can be run beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.database import session_scope
from crm_store.migrate import upgrade
from crm_store.models import Account, ContactEmail, Link, Message, Opportunity
from mailsync.commands.context import AppContext, pass_app
from mailsync.commands.sync import sync_once
from mailsync.crm_import import KINDS, import_file
from mailsync.daemon import SyncDaemon
from mailsync.outcome import OutcomeKind
from mailsync.retro_linking import maintenance_for
from mailsync.runtime import registry_for, sync_engine_for
from mailsync.sandbox.runner import SandboxHandle, running_sandbox, write_crm

SECRET_ENV = "MAILSYNC_DEMO_CLIENT_SECRET"
IMPORT_ORDER = ("users", "accounts", "contacts", "opportunities")
TARGET_PLURALS = (
    ("account", "accounts"),
    ("contact", "contacts"),
    ("opportunity", "opportunities"),
)


def demo_config(workdir: Path, sandbox: SandboxHandle, database_url: str) -> Path:
    """The config a real installation would have, pointed at the sandbox."""
    mailboxes = "".join(f'\n[[mailboxes]]\naddress = "{a}"\n' for a in sandbox.mailboxes)
    path = workdir / "mailsync-demo.toml"
    path.write_text(
        "# Written by `mailsync demo`: the sandbox's tenant, CA and mailboxes.\n"
        f'[store]\nurl = "{database_url}"\n\n'
        "[tenant]\n"
        f'tenant_id = "{sandbox.tenant}"\n'
        f'client_id = "{sandbox.client_id}"\n'
        f'client_secret_env = "{SECRET_ENV}"\n'
        f'authority_host = "{sandbox.base_url}"\n'
        f'graph_url = "{sandbox.base_url}"\n'
        f'ca_bundle = "{sandbox.ca_path}"\n\n'
        "[sync]\npage_size = 100\ninterval_seconds = 30\njitter_seconds = 5\n"
        f"{mailboxes}",
        encoding="utf-8",
    )
    return path


def import_crm(session: Session, files: dict[str, Path]) -> None:
    for kind in IMPORT_ORDER:
        if kind not in KINDS or kind not in files:
            continue
        report = import_file(KINDS[kind], files[kind], session)
        if report.bad_rows:
            raise click.ClickException(f"the sandbox's {kind}.csv did not import: {report}")


def print_links(session: Session, console: Console) -> None:
    counts = dict(
        session.execute(select(Link.target_kind, func.count()).group_by(Link.target_kind)).all()
    )
    messages = session.scalar(select(func.count()).select_from(Message)) or 0
    console.print(
        f"[bold]{messages}[/] messages stored; links: "
        + ", ".join(f"{counts.get(k, 0)} to {plural}" for k, plural in TARGET_PLURALS)
    )
    table = Table("subject", "linked to", "why", title="A sample of what was linked")
    rows = session.execute(
        select(Message.subject, Link.target_kind, Link.target_id, Link.evidence)
        .join(Message, (Link.item_kind == "message") & (Link.item_id == Message.id))
        .order_by(Message.sent_at.desc(), Link.target_kind)
        .limit(12)
    )
    for subject, kind, target_id, evidence in rows:
        table.add_row(subject[:60], f"{kind} {_target_name(session, kind, target_id)}", evidence)
    console.print(table)


def _target_name(session: Session, kind: str, target_id: int) -> str:
    if kind == "account":
        return session.scalar(select(Account.name).where(Account.id == target_id)) or "?"
    if kind == "opportunity":
        return session.scalar(select(Opportunity.code).where(Opportunity.id == target_id)) or "?"
    email = session.scalar(
        select(ContactEmail.email)
        .where(ContactEmail.contact_id == target_id)
        .order_by(ContactEmail.position)
    )
    return email or "?"


@click.command("demo")
@click.option("--once", is_flag=True, help="Sync once, print the result and exit.")
@click.option("--seed", default=1, show_default=True, help="Seed of the generated company.")
@click.option("--mailboxes", default=3, show_default=True, help="Salespeople's mailboxes.")
@click.option("--messages", default=300, show_default=True, help="Messages per mailbox.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("mailsync-demo"),
    show_default=True,
    help="Where the demo writes its CRM files and config.",
)
@pass_app
def demo_command(
    app: AppContext, once: bool, seed: int, mailboxes: int, messages: int, workdir: Path
) -> None:
    """Sandbox company → CRM import → full sync → what was linked."""
    console = Console()
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = app.settings.database_url
    upgrade(database_url)
    with running_sandbox(seed=seed, mailboxes=mailboxes, messages_per_mailbox=messages) as sandbox:
        console.print(
            f"sandbox Graph at {sandbox.graph_url} with {len(sandbox.mailboxes)} mailboxes"
        )
        files = write_crm(workdir / "crm", seed=seed, mailboxes=mailboxes)
        os.environ[SECRET_ENV] = sandbox.client_secret
        demo = AppContext(demo_config(workdir, sandbox, database_url))
        try:
            with session_scope(demo.session_factory(), write=True) as session:
                import_crm(session, files)
            console.print(f"imported the sample CRM from {workdir / 'crm'}")
            outcomes = sync_once(demo, None, console)
            with demo.session_factory()() as session:
                print_links(session, console)
            failed = [a for a, o in outcomes.items() if o.kind is not OutcomeKind.OK]
            if failed:
                raise click.ClickException(f"sync did not finish for {', '.join(failed)}")
            if once:
                return
            sessions = demo.session_factory()
            daemon = SyncDaemon(
                sessions,
                sync_engine_for(demo.settings, sessions),
                registry_for(demo.settings).provider_for,
                interval_seconds=demo.settings.sync.interval_seconds,
                jitter_seconds=demo.settings.sync.jitter_seconds,
                maintenance=maintenance_for(demo.settings, sessions),
            )
            console.print("daemon running against the sandbox; Ctrl-C to stop")
            daemon.run_forever()
        finally:
            demo.close()
