"""The store a throughput bench syncs into: the same for Graph and EWS.

Both benches must measure the sync against an identical starting point — a
fresh SQLite store holding the sandbox company's CRM and its mailboxes — so
the set-up lives once here and only the provider's config differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_engine, make_session_factory, session_scope
from crm_store.migrate import upgrade
from mailsync.commands.demo import import_crm
from mailsync.config import Settings, load_settings
from mailsync.mailboxes import register_mailboxes
from mailsync.sandbox.runner import SandboxHandle, write_crm

SEED = 3

ConfigWriter = Callable[[Path, SandboxHandle, str], Path]


@dataclass
class BenchStore:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]


def prepare_store(sandbox: SandboxHandle, workdir: Path, write_config: ConfigWriter) -> BenchStore:
    """A fresh migrated SQLite store in ``workdir`` with the sandbox CRM and mailboxes."""
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(db_url)
    settings = load_settings(write_config(workdir, sandbox, db_url))
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    crm = write_crm(workdir / "crm", seed=SEED, mailboxes=len(sandbox.mailboxes))
    with session_scope(sessions, write=True) as session:
        import_crm(session, crm)
        register_mailboxes(session, settings.mailboxes)
    return BenchStore(settings, engine, sessions)
