"""EWS sync states: opaque to the client, the whole position inside, signed.

Like the Graph sandbox's delta tokens, a state carries everything the server
needs (folder, the changelog window of the round, where the page stopped, the
folder's sync generation), so nothing per client is kept. ``round_done`` is
what a Graph deltaLink is: the next call starts a new round of changes after
``since``. A state that was cut, edited, issued for another mailbox or folder,
or issued before the folder's generation changed is invalid, and Exchange
answers ErrorInvalidSyncStateData.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from mailsync.sandbox.auth import b64url, b64url_decode

_MAC_BYTES = 12


class InvalidSyncState(ValueError):
    """The state was not issued by this endpoint for this mailbox and folder."""


@dataclass(frozen=True, slots=True)
class SyncPosition:
    folder: str
    since: int  # changes after this changelog position belong to the round
    high: int  # ... up to this one (snapshot taken when the round began)
    phase: int  # 0: the folder's baseline listing (first round only), 1: changes
    offset: int  # where the next page starts within the phase
    epoch: int
    round_done: bool = False
    initial: bool = True  # the first round of a folder reports no deletions


class SyncStateCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, mailbox: int, position: SyncPosition) -> str:
        payload = [
            mailbox,
            position.folder,
            position.since,
            position.high,
            position.phase,
            position.offset,
            position.epoch,
            int(position.round_done),
            int(position.initial),
        ]
        raw = json.dumps(payload, separators=(",", ":")).encode()
        mac = hmac.new(self._secret, raw, hashlib.sha256).digest()[:_MAC_BYTES]
        return b64url(mac + raw)

    def decode(self, state: str, mailbox: int, folder: str) -> SyncPosition:
        try:
            blob = b64url_decode(state.strip())
        except ValueError as exc:
            raise InvalidSyncState("sync state is not base64") from exc
        mac, raw = blob[:_MAC_BYTES], blob[_MAC_BYTES:]
        expected = hmac.new(self._secret, raw, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise InvalidSyncState("sync state signature does not match")
        try:
            owner, name, since, high, phase, offset, epoch, done, initial = json.loads(raw)
            position = SyncPosition(
                str(name),
                int(since),
                int(high),
                int(phase),
                int(offset),
                int(epoch),
                bool(done),
                bool(initial),
            )
        except (ValueError, TypeError) as exc:
            raise InvalidSyncState("sync state payload is unreadable") from exc
        if int(owner) != mailbox or position.folder != folder:
            raise InvalidSyncState("sync state belongs to another mailbox or folder")
        return position
