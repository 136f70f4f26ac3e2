"""A check spanning a model's fields still names the one field to fix, wherever the model sits.

Pydantic places a model validator's error at the model (``body``, ``item``);
such checks raise ``web.schemas.field_error`` so the 422 names the field
instead, under the model's own path. (The item selector's checks are covered
with the meeting identity, tests/web/test_web_meeting_identity.py.)
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.models import Contact, Link, Message
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.factories import make_account
from tests.web.conftest import person


def errors_of(answer: Any) -> dict[str, str]:
    assert answer.status_code == 422, answer.text
    return {e["field"]: e["message"] for e in answer.json()["errors"]}


def test_unstorable_text_names_its_field_at_any_depth(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    seller = person(session, idp)
    account = make_account(session)
    session.commit()
    # WHEN a contact's title carries a NUL character THEN the title is named
    answer = client.post(
        "/api/v1/contacts",
        json={"email": "a@acme.example", "title": "a\x00b"},
        headers=seller.headers,
    )
    errors = errors_of(answer)
    assert list(errors) == ["title"]
    assert errors["title"].startswith("contains a NUL character")
    assert answer.json()["detail"].startswith("title: contains a NUL character")
    # WHEN a snapshot's recipient inside a link carries a lone surrogate
    snapshot = {
        "kind": "message",
        "itemId": "AAMk-pane-1",
        "to": [{"address": "jane@acme.example", "name": "Jane \ud800"}],
    }
    body = {
        "item": {"itemId": "AAMk-pane-1"},
        "target": {"kind": "account", "id": account.id},
        "snapshot": snapshot,
    }
    answer = client.post(
        "/api/v1/items/links",
        content=json.dumps(body).encode(),  # ASCII escapes: the lone surrogate as JSON sends it
        headers={**seller.headers, "Content-Type": "application/json"},
    )
    # THEN its path within the body is named
    assert list(errors_of(answer)) == ["snapshot.to[0].name"]
    # AND nothing was stored
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    assert session.scalar(select(func.count()).select_from(Message)) == 0
    assert session.scalar(select(func.count()).select_from(Link)) == 0


def test_a_meeting_snapshot_names_the_time_it_lacks(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    seller = person(session, idp)
    meeting = {"kind": "meeting", "itemId": "AAMk-pane-2", "start": "2026-12-01T09:00:00Z"}
    # WHEN the pane tracks a meeting without its end THEN ``end`` is named
    answer = client.post("/api/v1/items/track", json=meeting, headers=seller.headers)
    assert errors_of(answer) == {"end": "a meeting needs its end time"}
    # WHEN its send time has no zone THEN ``sentAt`` (as the pane spells it) is named
    message = {"kind": "message", "itemId": "AAMk-pane-3", "sentAt": "2026-12-01T09:00:00"}
    answer = client.post("/api/v1/items/track", json=message, headers=seller.headers)
    assert list(errors_of(answer)) == ["sentAt"]
