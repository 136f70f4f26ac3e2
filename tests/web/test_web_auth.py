"""Every API route refuses callers without a valid credential, and maps valid ones to users."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_store.models import ApiToken, User
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.factories import make_user
from tests.web.conftest import AUDIENCE, PUBLIC_URL, person, sign_in, web_settings
from web.app import create_app
from web.auth.api_tokens import hash_token, issue_token
from web.auth.entra import EntraTokenValidator, JwksCache
from web.auth.errors import NotAuthenticated
from web.auth.sign_in_cache import API_TOKEN_WINDOW

ITEM = {"internetMessageId": "<nobody@acme.example>"}
ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/lookup", {"params": {"address": "jane@acme.example"}}),
    ("GET", "/api/v1/items/links", {"params": ITEM}),
    (
        "POST",
        "/api/v1/items/links",
        {"json": {"item": ITEM, "target": {"kind": "account", "id": 1}}},
    ),
    (
        "DELETE",
        "/api/v1/items/links",
        {"params": {**ITEM, "targetKind": "account", "targetId": 1}},
    ),
    (
        "POST",
        "/api/v1/items/track",
        {"json": {"kind": "message", "itemId": "AAMk1", "subject": "hi"}},
    ),
    ("GET", "/api/v1/records/search", {"params": {"q": "acme"}}),
    ("POST", "/api/v1/contacts", {"json": {"email": "new@acme.example"}}),
    ("GET", "/api/v1/me", {}),
]
NOT_BEARER_AUTHENTICATED = {
    ("POST", "/api/v1/graph/notifications"),
    ("POST", "/api/v1/graph/lifecycle"),
}
"""Graph calls these itself; it proves itself with the subscription's clientState instead."""


def test_the_route_table_covers_every_api_route(client: TestClient) -> None:
    # GIVEN the OpenAPI schema, WHEN listing its /api/v1 operations
    schema = client.get("/api/v1/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    # THEN the auth tests below exercise each of them
    assert documented - NOT_BEARER_AUTHENTICATED == {(method, path) for method, path, _ in ROUTES}


def _forged(idp: EntraIdentityProvider, email: str) -> str:
    """Right claims, signed by a key the tenant never published, claiming the tenant's kid."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"aud": AUDIENCE, "iss": idp.issuer, "preferred_username": email, "iat": now}
    claims["exp"] = now + 3600
    return jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": idp.keys[-1].kid})


def _bad_tokens(idp: EntraIdentityProvider, email: str) -> dict[str, str | None]:
    return {
        "none": None,
        "garbage": "not-a-token",
        "forged": _forged(idp, email),
        "expired": idp.access_token(
            audience=AUDIENCE, username=email, issued_at=time.time() - 7200, lifetime=3600
        ),
        "wrong_audience": idp.access_token(audience="api://someone-else", username=email),
        "wrong_issuer": idp.access_token(
            audience=AUDIENCE, username=email, issuer="https://evil.example/v2.0"
        ),
        "alg_none": jwt.encode({"aud": AUDIENCE, "iss": idp.issuer}, None, algorithm="none"),
        "unknown_api_token": "msk_" + "x" * 43,
    }


@pytest.mark.parametrize(("method", "path", "request_kwargs"), ROUTES)
def test_every_route_refuses_missing_and_bad_tokens(
    client: TestClient,
    session: Session,
    idp: EntraIdentityProvider,
    method: str,
    path: str,
    request_kwargs: dict[str, Any],
) -> None:
    # GIVEN a real user, and tokens that are missing, forged, expired, for another API, …
    user = person(session, idp)
    for label, token in _bad_tokens(idp, user.email).items():
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        # WHEN calling the route with each
        response = client.request(method, path, headers=headers, **request_kwargs)
        # THEN it is 401 with a Bearer challenge, never the data
        assert response.status_code == 401, (label, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "request_kwargs"), ROUTES)
def test_every_route_refuses_a_valid_token_of_someone_who_is_no_user(
    client: TestClient,
    idp: EntraIdentityProvider,
    method: str,
    path: str,
    request_kwargs: dict[str, Any],
) -> None:
    # GIVEN a correctly signed token for a person the CRM does not know
    token = idp.access_token(audience=AUDIENCE, username="stranger@ourco.example")
    # WHEN calling the route THEN 403 names why
    response = client.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, **request_kwargs
    )
    assert response.status_code == 403
    assert "not a mailsync user" in response.json()["detail"]


def test_an_entra_token_maps_to_the_user_and_binds_its_object_id(
    client: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    # GIVEN a user known by email only
    user = make_user(session, email="ana@ourco.example", display_name="Ana")
    session.commit()
    # WHEN they call with a token carrying their oid
    headers = sign_in(idp, user, object_id="oid-ana")
    response = client.get("/api/v1/me", headers=headers)
    # THEN they are recognised, and the oid is recorded for later renames
    assert response.status_code == 200
    assert response.json()["email"] == "ana@ourco.example"
    assert response.json()["signedInWith"] == "entra"
    session.expire_all()
    assert session.get(User, user.id).entra_object_id == "oid-ana"  # type: ignore[union-attr]
    # AND a renamed sign-in name with the same oid is still Ana
    renamed = idp.access_token(
        audience=AUDIENCE, username="ana.new@ourco.example", object_id="oid-ana"
    )
    again = client.get("/api/v1/me", headers={"Authorization": f"Bearer {renamed}"})
    assert again.json()["id"] == user.id
    # AND another directory object claiming Ana's name is refused
    impostor = idp.access_token(
        audience=AUDIENCE, username="ana@ourco.example", object_id="oid-other"
    )
    refused = client.get("/api/v1/me", headers={"Authorization": f"Bearer {impostor}"})
    assert refused.status_code == 401


def test_a_rotated_signing_key_is_refetched_but_not_on_every_unknown_kid(
    idp: EntraIdentityProvider,
) -> None:
    # GIVEN a validator that fetched the tenant's keys at t=0
    now = [0.0]
    keys = JwksCache(idp.jwks_url, httpx.Client(), min_refetch_seconds=60, clock=lambda: now[0])
    validator = EntraTokenValidator(keys, audience=AUDIENCE, issuer=idp.issuer)
    assert validator.validate(idp.access_token(audience=AUDIENCE, username="a@ourco.example"))
    fetched = idp.jwks_requests
    # WHEN the tenant rotates its key and a token with the new kid arrives 10 s later
    idp.rotate()
    token = idp.access_token(audience=AUDIENCE, username="a@ourco.example")
    now[0] = 10.0
    # THEN it is refused without hammering the JWKS endpoint (forged kids cost nothing)
    with pytest.raises(NotAuthenticated):
        validator.validate(token)
    assert idp.jwks_requests == fetched
    # WHEN the refetch interval has passed THEN one fetch picks up the new key
    now[0] = 61.0
    assert validator.validate(token).username == "a@ourco.example"
    assert idp.jwks_requests == fetched + 1
    # AND later tokens use the cache
    validator.validate(token)
    assert idp.jwks_requests == fetched + 1


@pytest.fixture
def now() -> list[datetime]:
    """The app's clock, moved by the test."""
    return [datetime(2026, 11, 23, 9, 0, tzinfo=UTC)]


@pytest.fixture
def clocked_client(
    idp: EntraIdentityProvider, session_factory: sessionmaker[Session], now: list[datetime]
) -> Iterator[TestClient]:
    app = create_app(web_settings(idp), session_factory, clock=lambda: now[0])
    with TestClient(app, base_url=PUBLIC_URL) as client:
        yield client


def test_api_tokens_are_stored_hashed_and_can_expire_or_be_revoked(
    clocked_client: TestClient, now: list[datetime], session: Session
) -> None:
    # GIVEN a user with an API token, and the app on a clock the test moves
    client = clocked_client
    user = make_user(session)
    issued = issue_token(session, user, name="script")
    session.commit()
    # THEN only its hash is in the store
    row = session.execute(select(ApiToken).where(ApiToken.id == issued.token_id)).scalar_one()
    assert row.token_sha256 == hash_token(issued.token) != issued.token
    assert issued.token not in (row.prefix, row.name)
    session.commit()
    # WHEN used THEN it signs the user in
    headers = {"Authorization": f"Bearer {issued.token}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["signedInWith"] == "api_token"
    # WHEN revoked THEN it is refused once the sign-in memory's short window has passed
    row.revoked_at = now[0]
    session.commit()
    now[0] += API_TOKEN_WINDOW
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    # AND an expired token is refused too
    old = issue_token(session, user, expires_at=now[0] - timedelta(seconds=1))
    session.commit()
    expired = client.get("/api/v1/me", headers={"Authorization": f"Bearer {old.token}"})
    assert expired.status_code == 401


def test_api_token_use_is_recorded_at_most_once_a_minute(
    clocked_client: TestClient, now: list[datetime], session: Session
) -> None:
    # GIVEN a never-used API token and the app on a clock the test moves
    start = now[0]
    client = clocked_client
    issued = issue_token(session, make_user(session))
    session.commit()
    headers = {"Authorization": f"Bearer {issued.token}"}

    def last_used() -> datetime | None:
        session.expire_all()
        value = session.execute(
            select(ApiToken.last_used_at).where(ApiToken.id == issued.token_id)
        ).scalar_one()
        session.commit()
        return value

    assert last_used() is None
    # WHEN it is used (the hot lookup route and an ordinary one)
    lookup = client.get("/api/v1/lookup", params={"address": "a@acme.example"}, headers=headers)
    assert lookup.status_code == 200
    # THEN its use is recorded
    assert last_used() == start
    # WHEN it is used again within the minute THEN nothing is written
    now[0] = start + timedelta(seconds=59)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert last_used() == start
    # WHEN a minute has passed THEN the next use is recorded
    now[0] = start + timedelta(seconds=61)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert last_used() == start + timedelta(seconds=61)
