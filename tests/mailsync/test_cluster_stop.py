"""A cluster node stops when asked: SIGTERM ends a ticker (with its web service) and a worker
promptly and cleanly, as systemd or Kubernetes ask them to at every deploy.

The fleet helpers SIGKILL whatever has not stopped after 30 s, which would hide a
node that ignores SIGTERM; this test measures the stop itself.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from mailsync.sandbox.runner import running_sandbox
from tests.conftest import MigratedDatabase
from tests.mailsync.cluster_support import Fleet, cluster_config, cluster_db, last_syncs, wait_for

__all__ = ["cluster_db"]  # the fixture, imported for pytest

STOP_WITHIN_SECONDS = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _all_synced(db: MigratedDatabase) -> bool:
    syncs = last_syncs(db.engine)
    return bool(syncs) and all(s is not None for s in syncs.values())


def test_sigterm_stops_a_ticker_with_web_and_a_worker_cleanly(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    with running_sandbox(seed=3, mailboxes=2, messages_per_mailbox=5) as sandbox:
        port = _free_port()
        config = cluster_config(
            tmp_path,
            sandbox,
            cluster_db.url,
            interval=2,
            daemon="tick_seconds = 1\nheartbeat_seconds = 1\nstalled_worker_seconds = 3",
            web=f'enabled = true\nport = {port}\npublic_base_url = "http://127.0.0.1:{port}"',
        )
        fleet = Fleet(config, tmp_path)
        try:
            # GIVEN a ticker serving web and a worker that have synced every mailbox
            ticker = fleet.ticker("node")
            worker = fleet.worker("worker", concurrency=2)
            wait_for(lambda: _all_synced(cluster_db), 60, "every mailbox synced once", fleet)
            # WHEN both are asked to stop
            asked = time.monotonic()
            fleet.terminate("node", "worker")
            codes: dict[str, int | None] = {}
            for name, process in (("node", ticker), ("worker", worker)):
                remaining = max(0.1, STOP_WITHIN_SECONDS - (time.monotonic() - asked))
                try:
                    codes[name] = process.wait(timeout=remaining)
                except subprocess.TimeoutExpired:
                    codes[name] = None
            # THEN both have exited, with success, well before a supervisor would SIGKILL them
            assert codes == {"node": 0, "worker": 0}, (
                f"exit codes after SIGTERM: {codes}\n--- node\n{fleet.log('node')[-2000:]}"
                f"\n--- worker\n{fleet.log('worker')[-2000:]}"
            )
        finally:
            fleet.stop()
