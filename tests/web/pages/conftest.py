"""Page tests: the app on the parametrized store, with the team scenario written into it.

Two ways in:

- ``team`` / ``pages``: the scenario written for one test (on the function-scoped
  ``session``), for tests that change what is stored;
- ``shared_team`` / ``shared_pages``: the scenario written once per module and
  backend, for read-only tests (most of them: who sees what). Writing it and
  emptying the tables cost more than the requests of a test, so a module of
  read-only tests shares one copy and one app.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_session_factory
from mailsync.config import Settings
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.conftest import BACKENDS, MigratedDatabase, empty_all_tables
from tests.web.conftest import PUBLIC_URL, web_settings
from tests.web.pages.scenario import NOW, Team, build_team
from web.app import create_app


@pytest.fixture
def team(session: Session) -> Team:
    return build_team(session)


def pages_app_client(settings: Settings, sessions: sessionmaker[Session]) -> TestClient:
    def clock() -> datetime:
        return NOW

    return TestClient(create_app(settings, sessions, clock=clock), base_url=PUBLIC_URL)


@pytest.fixture
def pages(
    idp: EntraIdentityProvider, session_factory: sessionmaker[Session], team: Team
) -> Iterator[TestClient]:
    with pages_app_client(web_settings(idp), session_factory) as client:
        yield client


@pytest.fixture(scope="module", params=BACKENDS)
def shared_store(request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    """Sessions on one backend holding the team scenario, for this module's read-only tests."""
    database: MigratedDatabase = request.getfixturevalue(f"{request.param}_database")
    try:
        yield make_session_factory(database.engine)
    finally:
        empty_all_tables(database.engine)


@pytest.fixture(scope="module")
def shared_team(shared_store: sessionmaker[Session]) -> Team:
    with shared_store() as session:
        return build_team(session)


@pytest.fixture(scope="module")
def shared_pages(
    idp: EntraIdentityProvider, shared_store: sessionmaker[Session], shared_team: Team
) -> Iterator[TestClient]:
    with pages_app_client(web_settings(idp), shared_store) as client:
        yield client
