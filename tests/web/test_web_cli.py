"""`mailsync users token create` and `mailsync serve`, through the real command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.models import ApiToken
from mailsync.cli import main
from tests.factories import make_user


def _invoke(args: list[str], db_url: str, tmp_path: Path) -> tuple[int, str, str]:
    runner = CliRunner()
    env = {"MAILSYNC_CONFIG": "", "MAILSYNC_DATABASE_URL": db_url}
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = runner.invoke(main, args, env=env, catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def test_token_create_prints_a_working_token_and_stores_only_its_hash(
    client: TestClient, session: Session, db_url: str, tmp_path: Path
) -> None:
    # GIVEN a user in the store
    user = make_user(session, email="script@ourco.example")
    session.commit()
    # WHEN an admin creates a token for them
    code, out, err = _invoke(["users", "token", "create", "Script@OurCo.example"], db_url, tmp_path)
    # THEN the token is printed once, works against the API, and is not in the store
    assert code == 0, err
    token = out.strip()
    assert token.startswith("msk_") and len(token) > 40
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["id"] == user.id
    session.expire_all()
    stored = session.execute(select(ApiToken)).scalar_one()
    assert token not in (stored.token_sha256, stored.prefix, stored.name)
    assert "cannot be shown again" in err


def test_token_create_for_an_unknown_user_says_so(db_url: str, tmp_path: Path) -> None:
    code, _, err = _invoke(["users", "token", "create", "nobody@ourco.example"], db_url, tmp_path)
    assert code == 1
    assert "no user nobody@ourco.example" in err


def test_serve_answers_health_on_the_given_port_from_each_worker(
    db_url: str, tmp_path: Path
) -> None:
    # GIVEN a free loopback port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MAILSYNC_CONFIG": "", "MAILSYNC_DATABASE_URL": db_url}
    mailsync = Path(sys.executable).parent / "mailsync"
    # WHEN `mailsync serve --port P --workers 2` runs
    server = subprocess.Popen(
        [str(mailsync), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        answer = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        # THEN it answers /healthz, and stops cleanly on SIGTERM
        assert answer is not None, server.stderr.read().decode() if server.stderr else ""
        assert answer.json() == {"status": "ok", "store": "ok"}
    finally:
        server.terminate()
        code = server.wait(timeout=20)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells the truth
    log = server.stderr.read().decode() if server.stderr else ""
    assert code in (0, -15), log
    # AND two worker processes served, and both finished
    assert log.count("Started server process") == 2, log
    assert log.count("Finished server process") == 2, log
