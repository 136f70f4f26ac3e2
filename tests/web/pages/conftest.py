"""Page tests: the app on the parametrized store, with the team scenario written into it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from mailsync.config import Settings
from mailsync.sandbox.entra_idp import EntraIdentityProvider
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
