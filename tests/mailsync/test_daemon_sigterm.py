"""SIGTERM to a running `mailsync run`: the page in hand commits, the process exits 0.

The daemon runs as a real subprocess against the real sandbox (small pages,
so a full pass takes many commits); the test stops it once some pages are in
the store, then checks that what was stored is consistent with the cursors:
nothing is wrong or doubled, and a restarted pass converges exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from crm_store.models import MessageCopy
from mailsync.sandbox.runner import SandboxHandle, running_sandbox
from tests.mailsync.sync_support import convergence_problems, write_config

pytestmark = pytest.mark.timeout(180)

MAILSYNC = [sys.executable, "-c", "from mailsync.cli import main; main()"]


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(
        seed=23, mailboxes=2, messages_per_mailbox=500, max_page_size=10
    ) as handle:
        yield handle


def _stored_messages(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(MessageCopy)) or 0)


def _wait_for_first_pages(engine: Engine, daemon: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while _stored_messages(engine) == 0:
        assert daemon.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, "no page was committed within 60 s"
        time.sleep(0.05)


def test_sigterm_mid_sync_commits_whole_pages_and_exits_zero(
    tmp_path: Path, sandbox: SandboxHandle, engine: Engine, db_url: str
) -> None:
    # GIVEN a daemon syncing two large mailboxes in pages of 10
    config = write_config(tmp_path, sandbox, db_url, page_size=10)
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [*MAILSYNC, "--config", str(config), "run"],
            stdout=out,
            stderr=out,
            env={**os.environ, "COLUMNS": "120"},
        )
    try:
        _wait_for_first_pages(engine, daemon, log)
        # WHEN it gets SIGTERM in the middle of the pass
        daemon.send_signal(signal.SIGTERM)
        returncode = daemon.wait(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    # THEN it exits 0 having stopped before the end (the pass really was interrupted)
    assert returncode == 0, log.read_text(errors="replace")
    problems = convergence_problems(engine, sandbox)
    assert problems, "the daemon finished the whole pass before SIGTERM; nothing was tested"
    # AND everything it stored is right: items are only missing, never wrong or doubled
    assert [p for p in problems if " missing (expected " not in p] == []

    # WHEN a one-shot sync resumes from the stored cursors
    resumed = subprocess.run(
        [*MAILSYNC, "--config", str(config), "sync", "--once"],
        capture_output=True,
        env={**os.environ, "COLUMNS": "120"},
        timeout=150,
        check=False,
    )
    # THEN the store equals the sandbox's ground truth exactly
    assert resumed.returncode == 0, resumed.stderr.decode(errors="replace")
    assert convergence_problems(engine, sandbox) == []
