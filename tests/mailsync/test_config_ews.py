"""[ews] checks at start: an app token must impersonate, a login needs both secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsync.config import ConfigError, Settings, load_settings

TENANT = """
[tenant]
tenant_id = "contoso.onmicrosoft.com"
client_id = "66666666-7777-8888-9999-000000000000"
client_secret_env = "MAILSYNC_CLIENT_SECRET"
"""
MAILBOX = '\n[[mailboxes]]\naddress = "ann@contoso.example"\nprovider = "ews"\n'


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "mailsync.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={}, cwd=tmp_path)


def test_oauth_without_impersonation_names_the_key_and_the_fix(tmp_path: Path) -> None:
    # GIVEN EWS with an app token but no impersonation
    text = f'{TENANT}\n[ews]\nurl = "https://mail.contoso.example/EWS/Exchange.asmx"\n'
    text += f'auth = "oauth"\n{MAILBOX}'
    # WHEN the config is loaded
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    # THEN start-up stops with one problem on ews.impersonation saying what to set
    problems = caught.value.problems
    assert [p.key for p in problems] == ["ews.impersonation"]
    assert "set impersonation = true" in problems[0].problem
    assert str(tmp_path / "mailsync.toml") in str(caught.value)


def test_oauth_with_impersonation_is_accepted(tmp_path: Path) -> None:
    text = f'{TENANT}\n[ews]\nauth = "oauth"\nimpersonation = true\n{MAILBOX}'
    settings = load(tmp_path, text)
    assert settings.ews is not None and settings.ews.impersonation


def test_ntlm_without_impersonation_stays_allowed_for_delegate_rights(tmp_path: Path) -> None:
    # GIVEN a service account with delegate (full access) rights instead of impersonation
    text = '[ews]\nauth = "ntlm"\nusername_env = "U"\npassword_env = "P"\n' + MAILBOX
    settings = load(tmp_path, text)
    assert settings.ews is not None and not settings.ews.impersonation
