"""Opaque, tamper-evident skip and delta tokens.

A token is the whole delta position (folder, since, snapshot, resume point,
$select, calendar window) so the server keeps no per-client state, as Graph's
tokens do. It is signed so a client cannot forge a position, and bound to the
mailbox it was issued for.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from mailsync.sandbox.auth import b64url, b64url_decode
from mailsync.sandbox.world import DeltaPosition


class BadToken(ValueError):
    """The token was not issued by this sandbox (or was cut or edited)."""


class DeltaTokenCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, mailbox: int, position: DeltaPosition) -> str:
        payload = [
            mailbox,
            position.folder,
            position.since,
            position.high,
            position.phase,
            position.offset,
            position.epoch,
            list(position.select) if position.select is not None else None,
            list(position.window) if position.window is not None else None,
            position.initial,
        ]
        raw = json.dumps(payload, separators=(",", ":")).encode()
        mac = hmac.new(self._secret, raw, hashlib.sha256).digest()[:12]
        return b64url(mac + raw)

    def decode(self, token: str) -> tuple[int, DeltaPosition]:
        try:
            blob = b64url_decode(token)
        except ValueError as exc:
            raise BadToken("token is not base64url") from exc
        mac, raw = blob[:12], blob[12:]
        if not hmac.compare_digest(mac, hmac.new(self._secret, raw, hashlib.sha256).digest()[:12]):
            raise BadToken("token signature does not match")
        try:
            mailbox, folder, since, high, phase, offset, epoch, select, window, initial = (
                json.loads(raw)
            )
        except (ValueError, TypeError) as exc:
            raise BadToken("token payload is unreadable") from exc
        return int(mailbox), DeltaPosition(
            folder=str(folder),
            since=int(since),
            high=int(high),
            phase=int(phase),
            offset=int(offset),
            epoch=int(epoch),
            select=tuple(select) if select is not None else None,
            window=(str(window[0]), str(window[1])) if window is not None else None,
            initial=bool(initial),
        )
