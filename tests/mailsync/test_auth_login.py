"""`mailsync auth login` against the real sandbox: device-code sign-in, app-only check, bad config.

The device flow runs in a real ``mailsync`` subprocess (real msal over HTTPS);
the test plays the user by reading the code it prints and approving it
through the sandbox, as a person would on the verification page.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select

from crm_store.models import Mailbox, MessageCopy
from mailsync.cli import main
from mailsync.sandbox.runner import SandboxHandle, running_sandbox
from tests.mailsync.sync_support import write_config

pytestmark = pytest.mark.timeout(120)

MAILSYNC = [sys.executable, "-c", "from mailsync.cli import main; main()"]
KEY_ENV = "MAILSYNC_TEST_LOGIN_KEY"
USER_CODE = re.compile(r"enter the code (\S+) to authenticate")


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    # Many pending polls: the sandbox must not approve on its own, only the test does.
    with running_sandbox(
        seed=5,
        mailboxes=2,
        messages_per_mailbox=30,
        device_code_interval=1,
        device_code_pending_polls=60,
    ) as handle:
        yield handle


def _device_code_config(
    tmp_path: Path, sandbox: SandboxHandle, db_url: str, *, cache: bool = True
) -> Path:
    cache_line = f'token_cache_path = "{tmp_path / "tokens.bin"}"' if cache else ""
    path = tmp_path / "mailsync.toml"
    path.write_text(
        f"""
[store]
url = "{db_url}"

[tenant]
tenant_id = "{sandbox.tenant}"
client_id = "{sandbox.client_id}"
auth = "device_code"
authority_host = "{sandbox.base_url}"
graph_url = "{sandbox.base_url}"
ca_bundle = "{sandbox.ca_path}"
token_cache_key_env = "{KEY_ENV}"
{cache_line}

[sync]
page_size = 25
interval_seconds = 60
jitter_seconds = 0

[[mailboxes]]
address = "{sandbox.mailboxes[1]}"
""",
        encoding="utf-8",
    )
    return path


def test_device_code_login_caches_a_token_the_sync_then_uses(
    tmp_path: Path, sandbox: SandboxHandle, engine: Engine, db_url: str
) -> None:
    # GIVEN a delegated configuration and an encryption key in the environment
    config = _device_code_config(tmp_path, sandbox, db_url)
    env = {**os.environ, KEY_ENV: Fernet.generate_key().decode(), "COLUMNS": "120"}
    user = sandbox.mailboxes[1]
    # WHEN `auth login` runs and the second mailbox's owner approves the code it shows
    login = subprocess.Popen(
        [*MAILSYNC, "--config", str(config), "auth", "login"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert login.stdout is not None
    first_line = login.stdout.readline()
    match = USER_CODE.search(first_line)
    assert match is not None, first_line
    sandbox.approve_device_code(match.group(1), mailbox=user)
    rest, _ = login.communicate(timeout=60)
    # THEN it succeeds and says who signed in
    assert login.returncode == 0, first_line + rest
    assert f"Signed in as {user}" in rest
    # AND the token cache exists and holds no plaintext
    cache_bytes = (tmp_path / "tokens.bin").read_bytes()
    assert b"RefreshToken" not in cache_bytes and user.encode() not in cache_bytes
    assert b"RefreshToken" in Fernet(env[KEY_ENV].encode()).decrypt(cache_bytes)

    # WHEN that user's mailbox is synced in a new process, with no one at the keyboard
    sync = subprocess.run(
        [*MAILSYNC, "--config", str(config), "sync", "--once", "--mailbox", user],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        check=False,
    )
    # THEN it runs on the cached token (no new device flow) and stores that mailbox's mail
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert "enter the code" not in sync.stdout + sync.stderr
    with engine.connect() as conn:
        stored = conn.scalar(
            select(func.count())
            .select_from(MessageCopy)
            .join(Mailbox, Mailbox.id == MessageCopy.mailbox_id)
            .where(Mailbox.address == user)
        )
    assert stored is not None and stored > 0


def test_declined_device_code_is_a_one_line_failure(
    tmp_path: Path, sandbox: SandboxHandle, db_url: str
) -> None:
    # GIVEN a delegated configuration
    config = _device_code_config(tmp_path, sandbox, db_url)
    env = {**os.environ, KEY_ENV: Fernet.generate_key().decode()}
    login = subprocess.Popen(
        [*MAILSYNC, "--config", str(config), "auth", "login"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert login.stdout is not None
    match = USER_CODE.search(login.stdout.readline())
    assert match is not None
    # WHEN the user declines the sign-in
    sandbox.approve_device_code(match.group(1), mailbox=sandbox.mailboxes[0], deny=True)
    rest, _ = login.communicate(timeout=60)
    # THEN the command fails with msal's reason, no traceback, and no cache is written
    assert login.returncode == 1, rest
    assert "authorization_declined" in rest and "Traceback" not in rest
    assert not (tmp_path / "tokens.bin").exists()


def test_client_credentials_login_is_a_connectivity_check(
    tmp_path: Path, sandbox: SandboxHandle, db_url: str
) -> None:
    # GIVEN an app-only configuration with a valid secret
    config = write_config(tmp_path, sandbox, db_url)
    # WHEN `auth login` runs
    result = CliRunner().invoke(main, ["--config", str(config), "auth", "login"])
    # THEN it reports an app-only token
    assert result.exit_code == 0, result.output
    assert "App-only token acquired" in result.output


def test_client_credentials_login_with_a_wrong_secret_fails(
    tmp_path: Path, sandbox: SandboxHandle, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, sandbox, db_url)
    monkeypatch.setenv("MAILSYNC_TEST_SANDBOX_SECRET", "not-the-secret")
    result = CliRunner().invoke(main, ["--config", str(config), "auth", "login"])
    assert result.exit_code == 1, result.output
    assert "invalid_client" in result.output


def test_missing_tenant_is_a_config_error(tmp_path: Path) -> None:
    # GIVEN a configuration without a [tenant] section
    config = tmp_path / "mailsync.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n', encoding="utf-8")
    # WHEN `auth login` runs
    result = CliRunner().invoke(main, ["--config", str(config), "auth", "login"])
    # THEN it exits 2 naming the section and the fix
    assert result.exit_code == 2, result.output
    assert "tenant" in result.output and "tenant_id and client_id" in result.output


def test_device_code_without_a_cache_file_is_a_config_error(
    tmp_path: Path, sandbox: SandboxHandle, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a delegated configuration that would keep the token only in memory
    config = _device_code_config(tmp_path, sandbox, db_url, cache=False)
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    result = CliRunner().invoke(main, ["--config", str(config), "auth", "login"])
    # THEN it refuses before starting a flow that would be lost, naming the key
    assert result.exit_code == 2, result.output
    assert "tenant.token_cache_path" in result.output


def test_device_code_without_the_key_is_a_config_error(
    tmp_path: Path, sandbox: SandboxHandle, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _device_code_config(tmp_path, sandbox, db_url)
    monkeypatch.delenv(KEY_ENV, raising=False)
    result = CliRunner().invoke(main, ["--config", str(config), "auth", "login"])
    assert result.exit_code == 2, result.output
    assert KEY_ENV in result.output
