"""The read-only view of stored threads that thread correlation needs.

Rules stay pure: the engine (or store) implements this Protocol over the
database and the matcher only asks "which links does the message with this
Message-ID carry?". Links a person removed are already gone from what the
lookup returns (removing a link deletes it and records a suppression).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from crm_store.items import LinkSpec


@dataclass(frozen=True, slots=True)
class StoredThreadLinks:
    """The current links of one stored message.

    ``message_key`` (its Message-ID) names the parent in a thread link's
    evidence: unlike the store id it is known before the parent is stored, so
    a reply linked in the same page as its parent and one linked a day later
    explain themselves with the same words. Empty when the lookup cannot say;
    the evidence then falls back to the Message-ID the reply asked for.
    """

    message_id: int
    links: tuple[LinkSpec, ...]
    message_key: str = ""


class ThreadLookup(Protocol):
    def links_for_message_id(self, internet_message_id: str) -> StoredThreadLinks | None:
        """Links of the stored message with this Message-ID (angle brackets kept)."""
        ...

    def links_for_conversation(
        self, conversation_id: str, exclude_message_id: str | None
    ) -> StoredThreadLinks | None:
        """Links of the latest stored message of the conversation other than this one."""
        ...


@dataclass(slots=True)
class InMemoryThreadLookup:
    """A dict-backed lookup for tests, explain on files and the benchmarks."""

    by_message_id: dict[str, StoredThreadLinks] = field(default_factory=dict)
    by_conversation: dict[str, list[tuple[str, StoredThreadLinks]]] = field(default_factory=dict)

    def add(
        self, message_id: str, links: StoredThreadLinks, conversation_id: str | None = None
    ) -> None:
        if not links.message_key:
            links = StoredThreadLinks(links.message_id, links.links, message_id)
        self.by_message_id[message_id] = links
        if conversation_id:
            self.by_conversation.setdefault(conversation_id, []).append((message_id, links))

    def links_for_message_id(self, internet_message_id: str) -> StoredThreadLinks | None:
        return self.by_message_id.get(internet_message_id)

    def links_for_conversation(
        self, conversation_id: str, exclude_message_id: str | None
    ) -> StoredThreadLinks | None:
        for message_id, links in reversed(self.by_conversation.get(conversation_id, [])):
            if message_id != exclude_message_id:
                return links
        return None


class NoThreads:
    """A lookup that knows no stored messages (first sync, or explain without a store)."""

    def links_for_message_id(self, internet_message_id: str) -> StoredThreadLinks | None:
        return None

    def links_for_conversation(
        self, conversation_id: str, exclude_message_id: str | None
    ) -> StoredThreadLinks | None:
        return None
