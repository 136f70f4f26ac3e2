"""Recovering the job of a silent worker, when two tickers find it.

Every cluster node's ticker looks for jobs left running by a worker whose
heartbeat stopped, so two of them can find the same job. The first queues it
again and a live worker soon runs it; the second must then leave that run
alone — re-queuing it would let a third worker fetch it too (two syncs of one
mailbox at once) and make the live worker's finish fail. The queue is the real
procrastinate schema on PostgreSQL; workers are played through procrastinate's
own SQL (register, fetch), as ``mailsync worker`` runs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from procrastinate import sql
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from crm_store.database import make_session_factory
from mailsync.cluster.queue import QUEUE, MailsyncApp, client_app, request_sync, retry_stalled_job
from mailsync.cluster.ticker import ClusterTicker
from mailsync.config import load_settings
from tests.conftest import MigratedDatabase
from tests.mailsync.cluster_support import cluster_db

__all__ = ["cluster_db"]  # the fixture, imported for pytest

pytestmark = pytest.mark.postgres


def register_worker(app: MailsyncApp) -> int:
    row = app.connector.get_sync_connector().execute_query_one(query=sql.queries["register_worker"])
    return int(row["worker_id"])


def fetch_job(app: MailsyncApp, worker_id: int) -> dict[str, Any]:
    row = app.connector.get_sync_connector().execute_query_one(
        query=sql.queries["fetch_job"], queues=[QUEUE], worker_id=worker_id
    )
    assert row["id"] is not None, "no job to fetch"
    return dict(row)


def job_state(db: MigratedDatabase, job_id: int) -> tuple[str, int | None, int]:
    with db.engine.connect() as conn:
        status, worker, attempts = conn.execute(
            text("SELECT status::text, worker_id, attempts FROM procrastinate_jobs WHERE id = :i"),
            {"i": job_id},
        ).one()
    return str(status), worker, int(attempts)


def test_a_second_ticker_leaves_a_recovered_job_alone_once_a_live_worker_runs_it(
    tmp_path: Path, cluster_db: MigratedDatabase
) -> None:
    config = tmp_path / "mailsync.toml"
    config.write_text(
        f'[store]\nurl = "{cluster_db.url}"\n[daemon]\nmode = "cluster"\n'
        "heartbeat_seconds = 1\nstalled_worker_seconds = 5\n[web]\nenabled = false\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    sessions: sessionmaker[Any] = make_session_factory(cluster_db.engine)
    app = client_app(cluster_db.url)
    try:
        # GIVEN a mailbox's sync job, fetched by a worker that then went silent
        request_sync(app, 7)
        silent = register_worker(app)
        job_id = int(fetch_job(app, silent)["id"])
        with cluster_db.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"
                )
            )
        # AND two tickers: the second read the stalled job while it was still the silent one's
        seen_by_second = app.connector.get_sync_connector().execute_query_all(
            query=sql.queries["select_stalled_jobs_by_heartbeat"],
            queue=QUEUE,
            task_name=None,
            seconds_since_heartbeat=settings.daemon.stalled_worker_seconds,
        )
        assert [(int(r["id"]), r["worker_id"]) for r in seen_by_second] == [(job_id, silent)]
        # WHEN the first ticker queues the job again and a live worker fetches it
        assert ClusterTicker(settings, sessions, app).recover_stalled() == 1
        live = register_worker(app)
        assert int(fetch_job(app, live)["id"]) == job_id
        # AND the second ticker now acts on what it read
        retried = retry_stalled_job(app, job_id, silent, datetime.now(UTC))
        # THEN it does nothing: the job stays running on the live worker, retried once
        assert retried is False
        assert job_state(cluster_db, job_id) == ("doing", live, 1)
    finally:
        app.close()
