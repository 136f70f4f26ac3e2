"""The conditions of a custom rule: all must hold; a list inside one means any of it.

Each condition is compiled when the rules are loaded (globs become one regex)
so evaluating a rule costs a few regex matches, never a compile.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Protocol

from crm_store.items import Direction
from rules.custom.facts import ItemFacts

ROLE_GROUPS: dict[str, frozenset[str]] = {
    "from": frozenset({"from", "organizer"}),
    "to": frozenset({"to", "attendee"}),
    "cc": frozenset({"cc"}),
    "participant": frozenset({"from", "organizer", "to", "attendee", "cc", "bcc"}),
}


def compile_globs(globs: tuple[str, ...]) -> re.Pattern[str]:
    """One case-insensitive regex for a list of shell globs (``*@acme.com``)."""
    return re.compile("|".join(fnmatch.translate(g.lower()) for g in globs), re.IGNORECASE)


class Condition(Protocol):
    @property
    def key(self) -> str: ...

    def matches(self, facts: ItemFacts) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class AddressCondition:
    """from/to/cc/participant address globs, or with ``domain_only`` their domains."""

    key: str
    roles: frozenset[str]
    globs: tuple[str, ...]
    pattern: re.Pattern[str]
    domain_only: bool

    def matches(self, facts: ItemFacts) -> bool:
        for role, address in facts.roles:
            if role in self.roles:
                value = address.rpartition("@")[2] if self.domain_only else address
                if self.pattern.match(value):
                    return True
        return False

    def describe(self) -> str:
        return f"{self.key} matches one of {list(self.globs)}"


@dataclass(frozen=True, slots=True)
class TextRegexCondition:
    """subject or body searched with a regex (case-insensitive)."""

    key: str
    pattern: re.Pattern[str]

    def matches(self, facts: ItemFacts) -> bool:
        text = facts.item.subject if self.key == "subject" else facts.item.body_text
        return bool(text) and self.pattern.search(text or "") is not None

    def describe(self) -> str:
        return f"{self.key} contains /{self.pattern.pattern}/"


@dataclass(frozen=True, slots=True)
class FolderCondition:
    key: str
    globs: tuple[str, ...]
    pattern: re.Pattern[str]

    def matches(self, facts: ItemFacts) -> bool:
        return self.pattern.match(facts.item.folder.lower()) is not None

    def describe(self) -> str:
        return f"folder is one of {list(self.globs)}"


@dataclass(frozen=True, slots=True)
class CategoriesCondition:
    key: str
    names: frozenset[str]

    def matches(self, facts: ItemFacts) -> bool:
        return any(c.casefold() in self.names for c in facts.item.categories)

    def describe(self) -> str:
        return f"categories include one of {sorted(self.names)}"


@dataclass(frozen=True, slots=True)
class HeaderPresentCondition:
    key: str
    names: tuple[str, ...]

    def matches(self, facts: ItemFacts) -> bool:
        headers = facts.headers
        return all(name in headers for name in self.names)

    def describe(self) -> str:
        return f"headers {list(self.names)} present"


@dataclass(frozen=True, slots=True)
class HeaderEqualsCondition:
    key: str
    expected: tuple[tuple[str, str, re.Pattern[str]], ...]  # (name, glob, compiled)

    def matches(self, facts: ItemFacts) -> bool:
        headers = facts.headers
        for name, _glob, pattern in self.expected:
            value = headers.get(name)
            if value is None or pattern.match(value.strip()) is None:
                return False
        return True

    def describe(self) -> str:
        return "headers " + ", ".join(f"{n}={g!r}" for n, g, _ in self.expected)


@dataclass(frozen=True, slots=True)
class DirectionCondition:
    key: str
    directions: frozenset[Direction]

    def matches(self, facts: ItemFacts) -> bool:
        return facts.direction in self.directions

    def describe(self) -> str:
        return f"direction is one of {sorted(d.value for d in self.directions)}"


@dataclass(frozen=True, slots=True)
class HasAttachmentsCondition:
    key: str
    expected: bool

    def matches(self, facts: ItemFacts) -> bool:
        return facts.has_attachments is self.expected

    def describe(self) -> str:
        return "has attachments" if self.expected else "has no attachments"


@dataclass(frozen=True, slots=True)
class AccountCondition:
    """A field of an account matched so far (by the built-in matchers or earlier rules)."""

    key: str
    name: re.Pattern[str] | None
    owner: frozenset[str] | None
    domain: re.Pattern[str] | None
    text: str

    def matches(self, facts: ItemFacts) -> bool:
        for account in facts.matched_accounts():
            if self.name is not None and self.name.match(account.name) is None:
                continue
            if self.owner is not None and account.owner_email not in self.owner:
                continue
            if self.domain is not None and not any(self.domain.match(d) for d in account.domains):
                continue
            return True
        return False

    def describe(self) -> str:
        return f"a matched account has {self.text}"
