"""The msal token cache is persisted only encrypted, and never silently replaced."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from mailsync.auth.token_cache import PersistentTokenCache, TokenCacheError


def _fill(store: PersistentTokenCache) -> None:
    store.cache.add(
        {
            "client_id": "cid",
            "scope": ["https://graph.microsoft.com/.default"],
            "token_endpoint": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            "response": {"access_token": "SECRET-ACCESS-TOKEN", "expires_in": 3600},
        }
    )


def test_cache_round_trips_encrypted(tmp_path: Path) -> None:
    # GIVEN a key and a cache holding a token
    key = Fernet.generate_key().decode()
    path = tmp_path / "tokens.bin"
    store = PersistentTokenCache(path, key)
    _fill(store)
    # WHEN it is saved and loaded again
    store.save()
    reloaded = PersistentTokenCache(path, key)
    # THEN the file holds no plaintext token and the reload has it
    assert b"SECRET-ACCESS-TOKEN" not in path.read_bytes()
    assert "SECRET-ACCESS-TOKEN" in reloaded.cache.serialize()
    assert path.stat().st_mode & 0o077 == 0


def test_without_a_key_nothing_is_written(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tokens.bin"
    with caplog.at_level(logging.WARNING):
        store = PersistentTokenCache(path, None)
    _fill(store)
    store.save()
    assert not path.exists()
    assert "MAILSYNC_TOKEN_KEY" in caplog.text


def test_wrong_key_is_a_clear_error_and_the_file_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "tokens.bin"
    store = PersistentTokenCache(path, Fernet.generate_key().decode())
    _fill(store)
    store.save()
    before = path.read_bytes()
    with pytest.raises(TokenCacheError, match="cannot be decrypted"):
        PersistentTokenCache(path, Fernet.generate_key().decode())
    assert path.read_bytes() == before


def test_a_malformed_key_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(TokenCacheError, match="MAILSYNC_TOKEN_KEY"):
        PersistentTokenCache(tmp_path / "t.bin", "not-a-key")
