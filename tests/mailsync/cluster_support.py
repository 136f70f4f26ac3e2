"""Cluster mode under test: a PostgreSQL store with procrastinate's queue, real processes.

Cluster mode exists only on PostgreSQL, so these fixtures use the PostgreSQL
half of tests/conftest.py alone (skipped without a server, a failure under
CI=true). Tickers and workers run as ``mailsync run`` / ``mailsync worker``
subprocesses, exactly as operators start them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from crm_store.models import Mailbox
from mailsync.sandbox.runner import SandboxHandle
from tests.conftest import MigratedDatabase, empty_all_tables
from tests.mailsync.sync_support import write_config

CLI = [sys.executable, "-c", "from mailsync.cli import main; main()"]

QUEUE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


def empty_queue(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(QUEUE_TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def cluster_db(request: pytest.FixtureRequest) -> Iterator[MigratedDatabase]:
    """The PostgreSQL test store (with the queue's tables), emptied after the test."""
    database: MigratedDatabase = request.getfixturevalue("postgresql_database")
    empty_queue(database.engine)
    yield database
    empty_queue(database.engine)
    empty_all_tables(database.engine)


def cluster_config(
    directory: Path,
    sandbox: SandboxHandle,
    db_url: str,
    *,
    interval: int,
    page_size: int = 25,
    daemon: str = "",
    push: str = "",
    web: str = "enabled = false",
) -> Path:
    """A cluster-mode mailsync.toml; ``daemon``/``push``/``web`` add keys to those sections.

    The tickers' maintenance pass purges unmatched mail older than the retroactive
    window, which would take part of the sandbox's year of history out of the store;
    a window longer than that history keeps "the store equals the ground truth" exact.
    """
    extra = (
        f'\n[daemon]\nmode = "cluster"\n{daemon}\n[push]\n{push}\n[web]\n{web}\n'
        "[rules]\nretro_window_days = 3650\n"
    )
    path = write_config(directory, sandbox, db_url, page_size=page_size, extra=extra)
    text_ = path.read_text(encoding="utf-8").replace(
        "interval_seconds = 60\njitter_seconds = 0",
        f"interval_seconds = {interval}\njitter_seconds = 0",
    )
    path.write_text(text_, encoding="utf-8")
    return path


@dataclass
class Fleet:
    """The ticker and worker processes of one test, with their logs."""

    config: Path
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        out = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [*CLI, "--config", str(self.config), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "120"},
        )
        self.processes[name] = process
        return process

    def ticker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(name, "run")

    def worker(self, name: str, concurrency: int) -> subprocess.Popen[bytes]:
        return self.start(name, "worker", "--concurrency", str(concurrency), "--name", name)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def terminate(self, *names: str) -> None:
        """Ask processes to stop (SIGTERM) without waiting: a test checks while they exit."""
        for name in names or tuple(self.processes):
            if self.processes[name].poll() is None:
                self.processes[name].send_signal(signal.SIGTERM)

    def stop(self, *names: str) -> None:
        chosen = names or tuple(self.processes)
        self.terminate(*chosen)
        for name in chosen:
            try:
                self.processes[name].wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.processes[name].kill()
                self.processes[name].wait()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def lines_naming(self, *needles: str) -> list[str]:
        """Every log line (``process: line``) that contains one of ``needles``."""
        return [
            f"{name}: {line}"
            for name in self.processes
            for line in self.log(name).splitlines()
            if any(n in line for n in needles)
        ]

    def alive(self) -> dict[str, int | None]:
        return {name: p.poll() for name, p in self.processes.items()}


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, fleet: Fleet | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    detail = ""
    if fleet is not None:
        detail = "\n".join(f"--- {n}\n{fleet.log(n)[-1500:]}" for n in fleet.processes)
    raise AssertionError(f"timed out after {timeout:g}s waiting until {what}\n{detail}")


def last_syncs(engine: Engine) -> dict[str, datetime | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Mailbox.address, Mailbox.last_sync_at).where(Mailbox.enabled.is_(True))
        )
        return {str(a): s for a, s in rows}


def staleness_seconds(engine: Engine) -> float:
    """The largest age of a mailbox's last good sync (inf when one never synced)."""
    with engine.connect() as conn:
        oldest, never = conn.execute(
            select(
                func.min(Mailbox.last_sync_at),
                func.count().filter(Mailbox.last_sync_at.is_(None)),
            ).where(Mailbox.enabled.is_(True))
        ).one()
    if never or oldest is None:
        return float("inf")
    return (datetime.now(UTC) - oldest).total_seconds()


def queue_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status")
        )
        return {str(s): int(n) for s, n in rows}
