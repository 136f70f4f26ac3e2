"""GET /metrics shows mailbox addresses: only the scrape token or an admin's API token opens it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from crm_store.database import make_session_factory
from mailsync.cli import main
from mailsync.config import ConfigError, load_settings
from mailsync.sandbox.entra_idp import EntraIdentityProvider
from tests.conftest import MigratedDatabase
from tests.factories import make_mailbox, make_user
from tests.web.conftest import PUBLIC_URL, sign_in, web_settings
from web.app import create_app
from web.auth.api_tokens import issue_token

TOKEN_ENV = "MAILSYNC_TEST_METRICS_TOKEN"
MAILBOX = "jane.doe@ourco.example"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def scrape_token(monkeypatch: pytest.MonkeyPatch) -> str:
    token = secrets.token_urlsafe(32)
    monkeypatch.setenv(TOKEN_ENV, token)
    return token


@pytest.fixture
def synced_mailbox(session: Session) -> None:
    mailbox = make_mailbox(session, address=MAILBOX)
    mailbox.last_sync_at = datetime.now(UTC) - timedelta(minutes=5)
    session.commit()


@pytest.fixture
def scraped(
    idp: EntraIdentityProvider,
    session_factory: sessionmaker[Session],
    scrape_token: str,
    synced_mailbox: None,
) -> Iterator[TestClient]:
    """The app with [web] metrics_token_env naming a set variable."""
    app = create_app(web_settings(idp, metrics_token_env=TOKEN_ENV), session_factory)
    with TestClient(app, base_url=PUBLIC_URL) as client:
        yield client


def api_token(session: Session, role: str) -> str:
    user = make_user(session, role=role)
    token = issue_token(session, user, name="metrics").token
    session.commit()
    return token


def assert_refused(response_status: int, headers: dict[str, str], body: str) -> None:
    assert response_status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert MAILBOX not in body


def test_no_token_is_401_with_a_bearer_challenge(scraped: TestClient) -> None:
    # GIVEN a scrape token is configured, WHEN /metrics is asked for without any
    response = scraped.get("/metrics")
    # THEN 401 with a Bearer challenge, and no address leaks
    assert_refused(response.status_code, dict(response.headers), response.text)


def test_a_wrong_token_is_401(scraped: TestClient, scrape_token: str) -> None:
    # GIVEN the scrape token with its last character changed, and an unknown API token
    wrong = scrape_token[:-1] + ("A" if scrape_token[-1] != "A" else "B")
    for token in (wrong, "msk_" + secrets.token_urlsafe(32)):
        # WHEN sent
        response = scraped.get("/metrics", headers=bearer(token))
        # THEN refused like no token at all
        assert_refused(response.status_code, dict(response.headers), response.text)


def test_the_scrape_token_gets_the_figures(scraped: TestClient, scrape_token: str) -> None:
    # GIVEN the configured scrape token (as Prometheus sends it)
    response = scraped.get("/metrics", headers=bearer(scrape_token))
    # THEN the figures, in Prometheus' text format, naming the synced mailbox
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "mailsync_mailboxes 1\n" in response.text
    assert f'mailsync_mailbox_staleness_seconds{{mailbox="{MAILBOX}"}}' in response.text


def test_an_admin_api_token_gets_the_figures_even_without_a_scrape_token(
    idp: EntraIdentityProvider,
    session_factory: sessionmaker[Session],
    session: Session,
    synced_mailbox: None,
) -> None:
    # GIVEN no scrape token configured (the default) and an admin's personal API token
    token = api_token(session, "admin")
    app = create_app(web_settings(idp), session_factory)
    with TestClient(app, base_url=PUBLIC_URL) as client:
        # WHEN the admin scrapes by hand
        response = client.get("/metrics", headers=bearer(token))
        # THEN the figures
        assert response.status_code == 200
        assert f'mailbox="{MAILBOX}"' in response.text
        # AND any other bearer is refused, naming the key that would open it to a scraper
        refused = client.get("/metrics", headers=bearer(secrets.token_urlsafe(32)))
        assert_refused(refused.status_code, dict(refused.headers), refused.text)
        assert "web.metrics_token_env" in refused.json()["detail"]


def test_a_non_admin_api_token_is_403(
    scraped: TestClient, session: Session, idp: EntraIdentityProvider
) -> None:
    # GIVEN a salesperson's and a manager's valid API tokens, and an admin's Entra token
    for token in (api_token(session, "salesperson"), api_token(session, "manager")):
        # WHEN used on /metrics
        response = scraped.get("/metrics", headers=bearer(token))
        # THEN 403: signed in, but not allowed; no address leaks
        assert response.status_code == 403
        assert "not an admin" in response.json()["detail"]
        assert MAILBOX not in response.text
    admin = make_user(session, role="admin")
    session.commit()
    # AND an Entra access token (the add-in's) is no scrape credential, even an admin's
    entra = scraped.get("/metrics", headers=sign_in(idp, admin))
    assert entra.status_code == 401


def test_a_named_but_unset_token_variable_stops_the_app_naming_key_and_fix(
    idp: EntraIdentityProvider,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN [web] metrics_token_env naming a variable that is not set
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    settings = web_settings(idp, metrics_token_env=TOKEN_ENV)
    # WHEN the app is built, THEN a config error names the key, the variable and the fix
    with pytest.raises(ConfigError) as unset:
        create_app(settings, session_factory)
    assert "web.metrics_token_env" in str(unset.value)
    assert f"export {TOKEN_ENV}=" in str(unset.value)


def test_a_short_scrape_token_is_refused_without_echoing_it(
    idp: EntraIdentityProvider,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a guessable scrape token
    monkeypatch.setenv(TOKEN_ENV, "hunter2-prometheus")
    settings = web_settings(idp, metrics_token_env=TOKEN_ENV)
    # WHEN the app is built, THEN refused: key, minimum length, how to make one; never the value
    with pytest.raises(ConfigError) as short:
        create_app(settings, session_factory)
    message = str(short.value)
    assert "web.metrics_token_env" in message
    assert "at least 32" in message
    assert "openssl rand" in message
    assert "hunter2" not in message


@pytest.fixture
def worker_silent_for_45_seconds(postgresql_database: MigratedDatabase) -> Iterator[str]:
    """A cluster worker whose last heartbeat was 45 s ago, in procrastinate's table."""
    engine = postgresql_database.engine
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '45 seconds')"
            )
        )
    yield postgresql_database.url
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM procrastinate_workers"))


@pytest.mark.postgres
@pytest.mark.parametrize(("stalled_seconds", "live"), [(30, 0), (60, 1)])
def test_metrics_and_status_count_live_workers_by_the_configured_stall_threshold(
    worker_silent_for_45_seconds: str,
    postgresql_database: MigratedDatabase,
    scrape_token: str,
    tmp_path: Path,
    stalled_seconds: int,
    live: int,
) -> None:
    # GIVEN a worker silent for 45 s and [daemon] stalled_worker_seconds below or above that
    config = tmp_path / "mailsync.toml"
    config.write_text(
        f'[web]\nmetrics_token_env = "{TOKEN_ENV}"\n'
        f"[daemon]\nheartbeat_seconds = 10\nstalled_worker_seconds = {stalled_seconds}\n"
    )
    environ = {
        "MAILSYNC_CONFIG": str(config),
        "MAILSYNC_DATABASE_URL": worker_silent_for_45_seconds,
    }
    settings = load_settings(config, environ=environ, cwd=tmp_path)
    app = create_app(settings, make_session_factory(postgresql_database.engine))
    # WHEN Prometheus scrapes /metrics and an operator runs `mailsync status`
    with TestClient(app, base_url=PUBLIC_URL) as client:
        scraped = client.get("/metrics", headers=bearer(scrape_token))
    status = CliRunner().invoke(main, ["status"], env=environ)
    # THEN both count the worker live only when the threshold is longer than its silence
    assert scraped.status_code == 200
    assert f"\nmailsync_workers {live}\n" in scraped.text
    assert status.exit_code == 0, status.output
    assert re.search(rf"; {live} live workers", status.output), status.output
