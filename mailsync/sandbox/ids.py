"""Item ids as Graph shows them: opaque, stable per copy, decodable by the sandbox.

An id carries (mailbox, item ref) plus a short tag bound to the seed, so an id
from another sandbox run (or a typo) is refused instead of finding the wrong
item. Without ``Prefer: IdType="ImmutableId"`` Graph hands out ids that change
when an item moves; the sandbox imitates that by appending the folder.
"""

from __future__ import annotations

import base64
import struct

from mailsync.sandbox.mixing import mix

_PREFIX = "AAMkAG"
_LAYOUT = struct.Struct(">HQI")


class IdCodec:
    def __init__(self, seed: int) -> None:
        self._seed = seed

    def _tag(self, mailbox: int, ref: int) -> int:
        return mix(self._seed, 0x1D, mailbox, ref) & 0xFFFFFFFF

    def encode(self, mailbox: int, ref: int, folder: str | None = None) -> str:
        raw = _LAYOUT.pack(mailbox, ref, self._tag(mailbox, ref))
        text = _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return f"{text}.{folder}" if folder else text

    def decode(self, item_id: str) -> tuple[int, int] | None:
        """(mailbox, ref) of an id this sandbox issued, or None for a foreign id."""
        text = item_id.partition(".")[0]
        if not text.startswith(_PREFIX):
            return None
        body = text[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            mailbox, ref, tag = _LAYOUT.unpack(raw)
        except (ValueError, struct.error):
            return None
        return (mailbox, ref) if tag == self._tag(mailbox, ref) else None
