"""Graph notification endpoints: bad input refused safely, lifecycle events queue their jobs.

Graph calls both endpoints without a user token; what they may do is queue
jobs on the cluster's queue (PostgreSQL only), so these run on PostgreSQL and
read the queue's table to see what was queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from crm_store.database import make_session_factory, session_scope
from crm_store.models import Mailbox
from crm_store.subscriptions import save_subscription
from mailsync.config import load_settings
from tests.conftest import MigratedDatabase
from tests.mailsync.cluster_support import cluster_db
from web.app import create_app

__all__ = ["cluster_db"]  # the fixture, imported for pytest

pytestmark = pytest.mark.postgres

NOTIFY = "/api/v1/graph/notifications"
LIFECYCLE = "/api/v1/graph/lifecycle"
SECRET = "the-right-secret"


@pytest.fixture
def client(tmp_path: Path, cluster_db: MigratedDatabase) -> Iterator[TestClient]:
    """The web app on the cluster store, with one mailbox and its two subscriptions."""
    sessions = make_session_factory(cluster_db.engine)
    settings_path = tmp_path / "mailsync.toml"
    settings_path.write_text(f'[store]\nurl = "{cluster_db.url}"\n', encoding="utf-8")
    app = create_app(load_settings(settings_path), sessions)
    with session_scope(sessions, write=True) as session:
        mailbox = Mailbox(address="ann@example.com", sync_status="idle", consecutive_failures=0)
        session.add(mailbox)
        session.flush()
        for kind in ("messages", "events"):
            save_subscription(
                session,
                mailbox_id=mailbox.id,
                resource_kind=kind,
                subscription_id=f"sub-{kind}",
                resource=f"users/ann@example.com/{kind}",
                client_state=SECRET,
                expires_at=datetime.now(UTC) + timedelta(days=2),
            )
    with TestClient(app) as test_client:
        yield test_client
    queue = getattr(app.state, "sync_queue", None)
    if queue is not None:
        queue.close()


def _jobs(db: MigratedDatabase) -> list[tuple[str, str]]:
    """(task, its argument) of every queued job."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT task_name, args::text FROM procrastinate_jobs ORDER BY id")
        ).all()
    return [(str(task).removeprefix("mailsync:"), str(args)) for task, args in rows]


def _lifecycle(
    event: str, client_state: str | None = SECRET, subscription: str = "sub-messages"
) -> dict[str, object]:
    return {
        "value": [
            {
                "subscriptionId": subscription,
                "subscriptionExpirationDateTime": "2026-12-07T11:00:00.0000000Z",
                "tenantId": "tenant",
                "clientState": client_state,
                "lifecycleEvent": event,
            }
        ]
    }


def test_a_lifecycle_notification_with_a_wrong_client_state_queues_nothing(
    client: TestClient, cluster_db: MigratedDatabase
) -> None:
    # GIVEN lifecycle notifications that name a real subscription but guess its secret
    for event in ("subscriptionRemoved", "missed", "reauthorizationRequired"):
        for path in (LIFECYCLE, NOTIFY):
            # WHEN Graph's endpoints receive them
            answer = client.post(path, json=_lifecycle(event, client_state="guess"))
            # THEN they are accepted as Graph expects, but nothing is queued
            assert answer.status_code == 202
    assert client.post(LIFECYCLE, json=_lifecycle("missed", client_state=None)).status_code == 202
    assert _jobs(cluster_db) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([{"subscriptionId": "sub-messages"}], "body"),
        ({"values": []}, "value"),
        ({"value": "sub-messages"}, "value"),
        ({"value": ["sub-messages"]}, "value[0]"),
        (
            {"value": [{"clientState": SECRET, "lifecycleEvent": "missed"}]},
            "value[0].subscriptionId",
        ),
        ({"value": [{"subscriptionId": "x" * 201}]}, "value[0].subscriptionId"),
        ({"value": [{"subscriptionId": "sub-messages", "clientState": 7}]}, "value[0].clientState"),
        (
            {"value": [{"subscriptionId": "sub-messages", "lifecycleEvent": ["missed"]}]},
            "value[0].lifecycleEvent",
        ),
    ],
)
def test_a_malformed_notification_is_refused_naming_the_field(
    client: TestClient, cluster_db: MigratedDatabase, body: object, field: str
) -> None:
    # GIVEN a notification body that is not a changeNotificationCollection
    for path in (NOTIFY, LIFECYCLE):
        # WHEN it is posted
        answer = client.post(path, json=body)
        # THEN 400, and the error names the offending field
        assert answer.status_code == 400, answer.text
        assert answer.json()["errors"][0]["field"] == field
        assert answer.json()["detail"].startswith(f"{field}: ")
    assert _jobs(cluster_db) == []


def test_a_batch_with_one_malformed_item_queues_nothing_at_all(
    client: TestClient, cluster_db: MigratedDatabase
) -> None:
    # GIVEN a genuine notification followed by a malformed one in the same batch
    batch = {"value": [{"subscriptionId": "sub-messages", "clientState": SECRET}, {"id": 1}]}
    # WHEN it is posted
    answer = client.post(NOTIFY, json=batch)
    # THEN it is refused as a whole (the sender can fix and resend it), and nothing half-done
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "value[1].subscriptionId"
    assert _jobs(cluster_db) == []
    # AND a body that is not JSON at all names the body
    answer = client.post(LIFECYCLE, content=b"{not json", headers={"content-type": "text/plain"})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "body"


def test_the_handshake_echoes_a_hostile_token_only_as_inert_text(client: TestClient) -> None:
    hostile = "<script>alert(document.cookie)</script>&amp;\"'"
    for path in (NOTIFY, LIFECYCLE):
        # GIVEN a validation request whose token is markup
        answer = client.post(path, params={"validationToken": hostile})
        # THEN it comes back exactly (Graph compares it), as plain text a browser will not sniff
        assert answer.status_code == 200
        assert answer.text == hostile
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.headers["x-content-type-options"] == "nosniff"
        # GIVEN tokens no Graph sends: control characters (header or log injection), or huge
        for bad in ("Validation: a\r\nSet-Cookie: x=1", "a\x00b", "v" * 1025):
            refused = client.post(path, params={"validationToken": bad})
            # THEN they are refused with the parameter named, and never echoed
            assert refused.status_code == 400
            assert refused.json()["errors"][0]["field"] == "validationToken"
            assert "Set-Cookie" not in refused.headers
            assert bad not in refused.text


def test_each_lifecycle_event_queues_its_own_work(
    client: TestClient, cluster_db: MigratedDatabase
) -> None:
    # GIVEN Graph reports missed notifications on the calendar subscription
    assert (
        client.post(LIFECYCLE, json=_lifecycle("missed", subscription="sub-events")).status_code
        == 202
    )
    # THEN one sync of the mailbox waits, and nothing else
    jobs = _jobs(cluster_db)
    assert [task for task, _ in jobs] == ["sync_mailbox"]
    # GIVEN the mail subscription is removed by Graph
    assert client.post(LIFECYCLE, json=_lifecycle("subscriptionRemoved")).status_code == 202
    # THEN its recreation is queued (the sync already waiting covers the mailbox)
    jobs = _jobs(cluster_db)
    assert [task for task, _ in jobs] == ["sync_mailbox", "recreate_subscription"]
    assert "sub-messages" in jobs[1][1]
    # GIVEN Graph asks twice to reauthorize the calendar subscription
    for _ in range(2):
        answer = client.post(
            LIFECYCLE, json=_lifecycle("reauthorizationRequired", subscription="sub-events")
        )
        assert answer.status_code == 202
    # THEN one reauthorization waits for it (de-duplicated), and no sync is added
    jobs = _jobs(cluster_db)
    assert [task for task, _ in jobs] == [
        "sync_mailbox",
        "recreate_subscription",
        "reauthorize_subscription",
    ]
    assert "sub-events" in jobs[2][1]
    # GIVEN a lifecycle event Graph may add one day, THEN it is accepted and ignored
    assert client.post(LIFECYCLE, json=_lifecycle("somethingNew")).status_code == 202
    assert len(_jobs(cluster_db)) == 3


def test_the_handshake_echoes_and_only_genuine_notifications_queue_one_sync(
    client: TestClient, cluster_db: MigratedDatabase
) -> None:
    # GIVEN Graph's validation request, THEN the token comes back as text/plain, 200
    answer = client.post(NOTIFY, params={"validationToken": "Validation: abc 123"})
    assert answer.status_code == 200
    assert answer.text == "Validation: abc 123"
    assert answer.headers["content-type"].startswith("text/plain")
    # GIVEN a notification with a wrong clientState, THEN it is accepted but queues nothing
    forged = {
        "value": [{"subscriptionId": "sub-messages", "clientState": "guess", "changeType": "x"}]
    }
    assert client.post(NOTIFY, json=forged).status_code == 202
    assert client.post(NOTIFY, json={"value": [{"subscriptionId": "nope"}]}).status_code == 202
    assert _jobs(cluster_db) == []
    # GIVEN two genuine notifications for the same mailbox, THEN exactly one sync waits
    genuine = {"value": [{"subscriptionId": "sub-messages", "clientState": SECRET}] * 2}
    assert client.post(NOTIFY, json=genuine).status_code == 202
    assert client.post(NOTIFY, json=genuine).status_code == 202
    assert [task for task, _ in _jobs(cluster_db)] == ["sync_mailbox"]
    # GIVEN a body that is not a notification, THEN 400
    assert client.post(NOTIFY, content=b"not json").status_code == 400
