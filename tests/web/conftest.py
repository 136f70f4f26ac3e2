"""Fixtures for the web tests: the sandbox as Entra ID over real HTTP, and the app on a store.

The identity provider runs once per session under uvicorn on a loopback port,
so the app fetches its JWKS over HTTP as it would from Microsoft. The app is
built per test on the parametrized backend (SQLite and PostgreSQL) and driven
with FastAPI's TestClient.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store.models import User
from mailsync.config import Settings
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.factories import make_user
from web.app import create_app

AUDIENCE = "api://crm.ourco.example/66666666-7777-8888-9999-000000000000"
PUBLIC_URL = "https://crm.ourco.example"
INTERNAL_DOMAIN = "ourco.example"


@pytest.fixture(scope="session")
def idp() -> Iterator[EntraIdentityProvider]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    provider = EntraIdentityProvider(base_url=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(
        uvicorn.Config(provider.asgi_app(), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    ready = threading.Event()
    while not server.started:
        ready.wait(0.02)
    yield provider
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def web_settings(idp: EntraIdentityProvider, **web: object) -> Settings:
    return Settings.model_validate(
        {
            "web": {
                "public_base_url": PUBLIC_URL,
                "entra": {
                    "tenant_id": idp.tenant_id,
                    "audience": AUDIENCE,
                    "issuer": idp.issuer,
                    "jwks_url": idp.jwks_url,
                },
                **web,
            },
            "rules": {"internal_domains": [INTERNAL_DOMAIN]},
        }
    )


@pytest.fixture
def client(
    idp: EntraIdentityProvider, session_factory: sessionmaker[Session]
) -> Iterator[TestClient]:
    app = create_app(web_settings(idp), session_factory)
    with TestClient(app, base_url=PUBLIC_URL) as test_client:
        yield test_client


@dataclass(frozen=True)
class Person:
    """A user row (committed) and how to sign in as them."""

    id: int
    email: str
    headers: dict[str, str]


def sign_in(idp: EntraIdentityProvider, user: User, **claims: object) -> dict[str, str]:
    token = idp.access_token(audience=AUDIENCE, username=user.email, **claims)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def person(session: Session, idp: EntraIdentityProvider, **fields: object) -> Person:
    """Create and commit a user, with Entra headers for them."""
    user = make_user(session, **fields)  # type: ignore[arg-type]
    session.commit()
    return Person(user.id, user.email, sign_in(idp, user))
