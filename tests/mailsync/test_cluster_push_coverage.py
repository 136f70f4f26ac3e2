"""Push on: a mailbox push does not cover is polled at the normal interval, and shows.

A mailbox whose subscriptions are missing, refused by Graph or expired gets
no notifications; polling it only at the safety interval would leave it
hours stale. The real ticker queues on the real PostgreSQL queue, on a clock
the test moves; ``mailsync status`` and ``/metrics`` read the same store.
Subscriptions and failed attempts are written with the store's own functions,
as the subscription job writes them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_session_factory, session_scope
from crm_store.subscriptions import record_failed_creation, save_subscription
from mailsync.cli import main
from mailsync.cluster.queue import MailsyncApp, client_app
from mailsync.cluster.ticker import ClusterTicker
from mailsync.config import Settings, load_settings
from tests.conftest import MigratedDatabase
from tests.factories import make_mailbox
from tests.mailsync.cluster_support import cluster_db
from tests.mailsync.push_support import NOTIFY_PATH, Clock, waiting_syncs
from web.app import create_app

__all__ = ["cluster_db"]  # the fixture, imported for pytest

pytestmark = pytest.mark.postgres

NORMAL_SECONDS = 300
SAFETY_SECONDS = 3600
TOKEN_ENV = "MAILSYNC_TEST_PUSH_COVERAGE_TOKEN"
PUBLIC_URL = "https://crm.test"

COVERED = "covered@ourco.example"
EVENTS_REFUSED = "events-refused@ourco.example"
EXPIRED = "expired@ourco.example"
ON_EWS = "onprem@ourco.example"


@dataclass(frozen=True)
class Fleet:
    """The four mailboxes, synced at ``synced_at``, as the store has them."""

    synced_at: datetime
    retry_at: datetime
    expired_at: datetime


def _config(directory: Path, db_url: str, *, push: bool) -> tuple[Path, dict[str, str]]:
    path = directory / "mailsync.toml"
    path.write_text(
        f'[daemon]\nmode = "cluster"\n'
        f"[sync]\ninterval_seconds = {NORMAL_SECONDS}\njitter_seconds = 0\n"
        f"[push]\nenabled = {'true' if push else 'false'}\n"
        f'notification_url = "{PUBLIC_URL}{NOTIFY_PATH}"\n'
        f"safety_poll_seconds = {SAFETY_SECONDS}\n"
        f'[web]\npublic_base_url = "{PUBLIC_URL}"\nmetrics_token_env = "{TOKEN_ENV}"\n',
        encoding="utf-8",
    )
    return path, {"MAILSYNC_CONFIG": str(path), "MAILSYNC_DATABASE_URL": db_url}


def _settings(directory: Path, db_url: str, *, push: bool = True) -> Settings:
    path, environ = _config(directory, db_url, push=push)
    return load_settings(path, environ=environ, cwd=directory)


def _subscribe(session: Session, mailbox_id: int, kind: str, expires_at: datetime) -> None:
    save_subscription(
        session,
        mailbox_id=mailbox_id,
        resource_kind=kind,
        subscription_id=f"sub-{mailbox_id}-{kind}",
        resource=f"users/{mailbox_id}/{kind}",
        client_state=secrets.token_urlsafe(32),
        expires_at=expires_at,
    )


def given_the_fleet(sessions: sessionmaker[Session], now: datetime) -> Fleet:
    """COVERED has both subscriptions live; EVENTS_REFUSED's events subscription was refused
    twice; EXPIRED's messages subscription lapsed an hour ago; ON_EWS cannot have any."""
    fleet = Fleet(now, now + timedelta(minutes=4), now - timedelta(hours=1))
    later = now + timedelta(days=3)
    with session_scope(sessions, write=True) as session:
        boxes = {
            address: make_mailbox(session, address=address, provider=provider)
            for address, provider in (
                (COVERED, "graph"),
                (EVENTS_REFUSED, "graph"),
                (EXPIRED, "graph"),
                (ON_EWS, "ews"),
            )
        }
        for mailbox in boxes.values():
            mailbox.last_sync_at = now
        for kind in ("messages", "events"):
            _subscribe(session, boxes[COVERED].id, kind, later)
        _subscribe(session, boxes[EVENTS_REFUSED].id, "messages", later)
        record_failed_creation(
            session,
            mailbox_id=boxes[EVENTS_REFUSED].id,
            resource_kind="events",
            failures=2,
            retry_at=fleet.retry_at,
            error="validation request to the notification URL failed",
        )
        _subscribe(session, boxes[EXPIRED].id, "messages", fleet.expired_at)
        _subscribe(session, boxes[EXPIRED].id, "events", later)
    return fleet


@pytest.fixture
def queue(cluster_db: MigratedDatabase) -> Iterator[MailsyncApp]:
    app = client_app(cluster_db.url)
    try:
        yield app
    finally:
        app.close()


def test_mailboxes_push_does_not_cover_are_polled_at_the_normal_interval(
    tmp_path: Path, cluster_db: MigratedDatabase, queue: MailsyncApp
) -> None:
    # GIVEN push on, and the four mailboxes all synced just now
    sessions = make_session_factory(cluster_db.engine)
    start = datetime.now(UTC).replace(microsecond=0)
    given_the_fleet(sessions, start)
    clock = Clock(start + timedelta(seconds=NORMAL_SECONDS - 1))
    ticker = ClusterTicker(_settings(tmp_path, cluster_db.url), sessions, queue, clock=clock)
    # WHEN the ticker ticks before the normal interval is up, THEN nothing is due
    assert ticker.tick().queued == 0
    # WHEN it ticks after the normal interval but before the safety interval
    clock.now = start + timedelta(seconds=NORMAL_SECONDS + 1)
    report = ticker.tick()
    # THEN the refused, the expired and the EWS mailbox are queued; the covered one is not
    assert report.queued == 3
    assert waiting_syncs(cluster_db) == sorted([EVENTS_REFUSED, EXPIRED, ON_EWS])
    # WHEN it ticks after the safety interval
    clock.now = start + timedelta(seconds=SAFETY_SECONDS + 1)
    report = ticker.tick()
    # THEN the covered mailbox is queued too (the others are waiting already)
    assert report.queued == 1
    assert waiting_syncs(cluster_db) == sorted([COVERED, EVENTS_REFUSED, EXPIRED, ON_EWS])


def test_a_subscription_expiring_turns_its_mailbox_back_to_the_normal_interval(
    tmp_path: Path, cluster_db: MigratedDatabase, queue: MailsyncApp
) -> None:
    # GIVEN push on and a mailbox with both subscriptions live until an instant
    sessions = make_session_factory(cluster_db.engine)
    start = datetime.now(UTC).replace(microsecond=0)
    expiry = start + timedelta(seconds=NORMAL_SECONDS * 2)
    with session_scope(sessions, write=True) as session:
        mailbox = make_mailbox(session, address=COVERED)
        mailbox.last_sync_at = start
        for kind in ("messages", "events"):
            _subscribe(session, mailbox.id, kind, expiry)
    clock = Clock(expiry - timedelta(seconds=1))
    ticker = ClusterTicker(_settings(tmp_path, cluster_db.url), sessions, queue, clock=clock)
    # WHEN the ticker ticks past the normal interval while they are live, THEN not due
    assert ticker.tick().queued == 0
    # WHEN it ticks the moment they expire (no renewal), THEN queued, hours before the safety poll
    clock.now = expiry
    assert ticker.tick().queued == 1
    assert waiting_syncs(cluster_db) == [COVERED]


def test_with_push_off_subscriptions_do_not_stretch_the_interval(
    tmp_path: Path, cluster_db: MigratedDatabase, queue: MailsyncApp
) -> None:
    # GIVEN push turned off, with the subscription rows of when it was on still stored
    sessions = make_session_factory(cluster_db.engine)
    start = datetime.now(UTC).replace(microsecond=0)
    given_the_fleet(sessions, start)
    settings = _settings(tmp_path, cluster_db.url, push=False)
    clock = Clock(start + timedelta(seconds=NORMAL_SECONDS + 1))
    # WHEN the ticker ticks after the normal interval
    report = ClusterTicker(settings, sessions, queue, clock=clock).tick()
    # THEN every mailbox is queued, the one covered before included
    assert report.queued == 4
    assert waiting_syncs(cluster_db) == sorted([COVERED, EVENTS_REFUSED, EXPIRED, ON_EWS])


def test_status_and_metrics_show_which_mailboxes_push_covers_and_why_not(
    tmp_path: Path, cluster_db: MigratedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN push on and the four mailboxes (status and /metrics read the real clock)
    sessions = make_session_factory(cluster_db.engine)
    fleet = given_the_fleet(sessions, datetime.now(UTC).replace(microsecond=0))
    token = secrets.token_urlsafe(32)
    monkeypatch.setenv(TOKEN_ENV, token)
    path, environ = _config(tmp_path, cluster_db.url, push=True)
    settings = load_settings(path, environ=environ, cwd=tmp_path)
    # WHEN an operator runs `mailsync status`
    status = CliRunner().invoke(main, ["status"], env={**environ, "COLUMNS": "200"})
    # THEN it counts the covered mailbox and lists each other one with its reason
    assert status.exit_code == 0, status.output
    out = status.output
    assert f"push: 1 of 4 enabled mailboxes covered (polled every {SAFETY_SECONDS}s" in out
    assert (
        f"push: 3 not covered (1 failing, 1 expired, 1 not graph), "
        f"polled every {NORMAL_SECONDS}s:" in out
    )
    retry = fleet.retry_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert re.search(
        rf"{EVENTS_REFUSED}: events failing \(2 failures\), next try {retry} \(in [34]m\)", out
    ), out
    assert f"{EXPIRED}: messages expired 1h ago" in out
    assert f"{ON_EWS}: not a Graph mailbox" in out
    assert f"{COVERED}:" not in out
    # WHEN Prometheus scrapes /metrics
    with TestClient(create_app(settings, sessions), base_url=PUBLIC_URL) as client:
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    # THEN the same figures, as gauges with bounded labels
    assert scraped.status_code == 200, scraped.text
    body = scraped.text
    assert "\nmailsync_push_mailboxes_covered 1\n" in body
    for reason, count in (("failing", 1), ("expired", 1), ("missing", 0), ("not_graph", 1)):
        assert f'\nmailsync_push_mailboxes_uncovered{{reason="{reason}"}} {count}\n' in body
    for address, covered in ((COVERED, 1), (EVENTS_REFUSED, 0), (EXPIRED, 0), (ON_EWS, 0)):
        assert f'\nmailsync_mailbox_push_covered{{mailbox="{address}"}} {covered}\n' in body
    retry_gauge = re.findall(r"\nmailsync_push_subscription_next_retry_timestamp_seconds(.*)", body)
    assert retry_gauge == [
        f'{{mailbox="{EVENTS_REFUSED}",kind="events"}} {int(fleet.retry_at.timestamp())}'
    ]


def test_with_push_off_status_and_metrics_show_no_coverage(
    tmp_path: Path, cluster_db: MigratedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN push off (coverage decides nothing then) and the same mailboxes
    sessions = make_session_factory(cluster_db.engine)
    given_the_fleet(sessions, datetime.now(UTC).replace(microsecond=0))
    token = secrets.token_urlsafe(32)
    monkeypatch.setenv(TOKEN_ENV, token)
    path, environ = _config(tmp_path, cluster_db.url, push=False)
    settings = load_settings(path, environ=environ, cwd=tmp_path)
    # WHEN status runs and /metrics is scraped, THEN neither speaks of push
    status = CliRunner().invoke(main, ["status"], env=environ)
    assert status.exit_code == 0, status.output
    assert "push:" not in status.output
    with TestClient(create_app(settings, sessions), base_url=PUBLIC_URL) as client:
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200
    assert "mailsync_mailboxes 4\n" in scraped.text
    assert "push" not in scraped.text
