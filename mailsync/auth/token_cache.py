"""The msal token cache, persisted between runs and only ever encrypted.

A refresh token is as good as a password, so the cache file is Fernet
ciphertext keyed by an environment variable that never touches the disk.
Without a key the cache stays in memory (with a warning): app-only tokens are
cheap to fetch again, and a plaintext fallback would defeat the point.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import msal
from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

DEFAULT_KEY_ENV = "MAILSYNC_TOKEN_KEY"


class TokenCacheError(Exception):
    """The cache file exists but cannot be read with the key we were given."""


class PersistentTokenCache:
    """Loads and saves one ``SerializableTokenCache`` as Fernet ciphertext.

    ``path=None`` or a missing key means in-memory only. Saving happens after
    each token acquisition (msal flags ``has_state_changed``), atomically, with
    owner-only permissions.
    """

    def __init__(self, path: Path | None, key: str | None, *, key_env: str = DEFAULT_KEY_ENV):
        self.cache = msal.SerializableTokenCache()
        self._lock = threading.Lock()
        self._path = path
        self._key_env = key_env
        self._fernet: Fernet | None = None
        if path is None:
            return
        if not key:
            log.warning(
                "token cache %s is not persisted: set %s to a Fernet key "
                "(python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())') to keep tokens between runs",
                path,
                key_env,
            )
            return
        try:
            self._fernet = Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise TokenCacheError(
                f"{key_env} is not a valid Fernet key (32 url-safe base64 bytes): {exc}"
            ) from exc
        self._load()

    @classmethod
    def from_env(cls, path: Path | None, key_env: str = DEFAULT_KEY_ENV) -> PersistentTokenCache:
        return cls(path, os.environ.get(key_env), key_env=key_env)

    @property
    def persistent(self) -> bool:
        return self._fernet is not None and self._path is not None

    def _load(self) -> None:
        assert self._fernet is not None and self._path is not None
        if not self._path.exists():
            return
        try:
            plaintext = self._fernet.decrypt(self._path.read_bytes())
        except InvalidToken as exc:
            raise TokenCacheError(
                f"token cache {self._path} cannot be decrypted with the key in {self._key_env}: "
                "restore the key that wrote it, or delete the file to sign in again"
            ) from exc
        self.cache.deserialize(plaintext.decode("utf-8"))

    def save(self) -> None:
        """Write the cache if msal changed it; a no-op for an in-memory cache."""
        if self._fernet is None or self._path is None:
            return
        with self._lock:
            if not self.cache.has_state_changed:
                return
            ciphertext = self._fernet.encrypt(self.cache.serialize().encode("utf-8"))
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_name(self._path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(ciphertext)
            os.replace(tmp, self._path)
            self.cache.has_state_changed = False
