"""The rules as mailsync and the web service run them over the store.

The pure rules engine reads stored threads through the ``ThreadLookup``
Protocol. Two implementations live here because both the sync engine and the
web service need them (web imports them; mailsync must not import web):

- ``StoreThreadLookup`` asks the store per call: right for one item at a
  time (the add-in, explain, retroactive linking of a handful of items);
- ``PageThreadLookup`` reads everything one page of items can ask about in
  two queries up front, and learns the page's own messages as they are
  linked, so a reply later in the same page finds its parent (a delta page
  often carries a whole new thread).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from crm_store.items import CorrespondenceItem, LinkSpec, MessageItem
from crm_store.links import latest_links_for_conversations, links_for_messages_by_message_id
from mailsync.config.sections import RulesSettings as ConfiguredRules
from rules import RulesSettings, StoredThreadLinks

PAGE_LOCAL_ID = 0
"""Store id of a parent linked earlier in the same page (not stored yet); evidence names
parents by Message-ID, so it reads the same either way."""


def rules_settings_from(configured: ConfiguredRules) -> RulesSettings:
    """The engine's settings from the config's ``[rules]`` table (every key it knows)."""
    return configured.engine_settings()


class StoreThreadLookup:
    """Thread correlation over the store, one query pair per question."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def links_for_message_id(self, internet_message_id: str) -> StoredThreadLinks | None:
        found = links_for_messages_by_message_id(self._session, [internet_message_id])
        thread = found.get(internet_message_id)
        if thread is None:
            return None
        return StoredThreadLinks(thread.message_id, thread.links, internet_message_id.strip())

    def links_for_conversation(
        self, conversation_id: str, exclude_message_id: str | None
    ) -> StoredThreadLinks | None:
        found = latest_links_for_conversations(self._session, [conversation_id])
        for key, thread in found.get(conversation_id, []):
            if key != exclude_message_id:
                return StoredThreadLinks(thread.message_id, thread.links, key)
        return None


class PageThreadLookup:
    """Stored thread links for one page, prefetched; the page's own links added as it goes."""

    __slots__ = ("_by_conversation", "_by_message_id", "_local")

    def __init__(self) -> None:
        self._by_message_id: dict[str, StoredThreadLinks] = {}
        self._by_conversation: dict[str, list[tuple[str, StoredThreadLinks]]] = {}
        self._local: dict[str, list[tuple[str, StoredThreadLinks]]] = {}

    @classmethod
    def prefetch(cls, session: Session, items: Sequence[CorrespondenceItem]) -> PageThreadLookup:
        """Every parent and conversation the page's messages name, in two store reads."""
        lookup = cls()
        parents: set[str] = set()
        conversations: set[str] = set()
        for item in items:
            if isinstance(item, MessageItem):
                if item.in_reply_to:
                    parents.add(item.in_reply_to)
                parents.update(item.references)
                if item.conversation_id:
                    conversations.add(item.conversation_id)
        if parents:
            for mid, thread in links_for_messages_by_message_id(session, sorted(parents)).items():
                lookup._by_message_id[mid.strip()] = StoredThreadLinks(
                    thread.message_id, thread.links, mid.strip()
                )
        if conversations:
            found = latest_links_for_conversations(session, sorted(conversations))
            for conversation, threads in found.items():
                lookup._by_conversation[conversation] = [
                    (key, StoredThreadLinks(t.message_id, t.links, key)) for key, t in threads
                ]
        return lookup

    def learn(self, item: MessageItem, links: tuple[LinkSpec, ...]) -> None:
        """A message of this page was just linked: later replies in the page inherit from it."""
        key = item.message_key
        stored = self._by_message_id.get(key)
        thread = StoredThreadLinks(stored.message_id if stored else PAGE_LOCAL_ID, links, key)
        self._by_message_id[key] = thread
        if item.conversation_id:
            self._local.setdefault(item.conversation_id, []).append((key, thread))

    def links_for_message_id(self, internet_message_id: str) -> StoredThreadLinks | None:
        return self._by_message_id.get(internet_message_id.strip())

    def links_for_conversation(
        self, conversation_id: str, exclude_message_id: str | None
    ) -> StoredThreadLinks | None:
        for key, thread in reversed(self._local.get(conversation_id, [])):
            if key != exclude_message_id:
                return thread
        for key, thread in self._by_conversation.get(conversation_id, []):
            if key != exclude_message_id:
                return thread
        return None
