"""Exclusions, checked before any matcher: what must never reach the store.

Order matters only for the reason recorded: private first (the strongest
promise to the user), then the block list, internal-only, and bulk/automatic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from crm_store.items import CorrespondenceItem, MessageItem, Sensitivity
from rules.index import CrmIndex
from rules.results import Excluded, ExclusionReason
from rules.roles import Role
from rules.settings import RulesSettings
from rules.trace import StepReport, Trace

_PRIVATE = frozenset({Sensitivity.PRIVATE, Sensitivity.CONFIDENTIAL})
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
# Headers whose mere presence marks list or auto-responder mail.
_BULK_HEADERS = {"list-unsubscribe": "List-Unsubscribe", "list-id": "List-Id"}
_AUTO_HEADERS = {"x-autoreply": "X-Autoreply", "x-autorespond": "X-Autorespond"}
_FIRST_LETTERS = frozenset("aAlLpPrRxX")
# Subjects Exchange, Gmail and common clients put on automatic replies.
_AUTO_SUBJECT = re.compile(
    r"(?:automatic reply|auto(?:matic)?[- ]?reply|autoreply|out of (?:the )?office"
    r"|abwesenheitsnotiz|automatische antwort|réponse automatique|undeliverable"
    r"|delivery status notification)\s*:",
    re.IGNORECASE,
)


class Exclusions:
    """The exclusion checks, compiled once from the settings."""

    __slots__ = ("_blocked_addresses", "_blocked_domains", "_internal_only")

    def __init__(self, settings: RulesSettings) -> None:
        self._blocked_addresses = frozenset(settings.blocked_addresses)
        self._blocked_domains = frozenset(settings.blocked_domains)
        self._internal_only = settings.internal_only_excluded

    def check(
        self, item: CorrespondenceItem, roles: list[Role], index: CrmIndex, trace: Trace | None
    ) -> Excluded | None:
        if trace is not None:
            return self._explained(item, roles, index, trace)
        return (
            _private(item)
            or self._blocked(roles)
            or self._internal(roles, index)
            or _bulk_or_automatic(item)
        )

    def _explained(
        self, item: CorrespondenceItem, roles: list[Role], index: CrmIndex, trace: Trace
    ) -> Excluded | None:
        """The same checks, each reported with why it did or did not apply."""
        external = next((a for _, a in roles if not index.is_internal(a)), None)
        checks: tuple[tuple[str, Callable[[], Excluded | None], str], ...] = (
            ("private", lambda: _private(item), f"sensitivity is {item.sensitivity}"),
            ("blocked", lambda: self._blocked(roles), "no participant is on the block list"),
            (
                "internal_only",
                lambda: self._internal(roles, index),
                "not checked (internal_only_excluded is off)"
                if not self._internal_only
                else f"{external} is not one of ours"
                if external
                else "no participants",
            ),
            (
                "bulk_or_automatic",
                lambda: _bulk_or_automatic(item),
                "no Auto-Submitted, List-*, Precedence or auto-reply mark",
            ),
        )
        for name, run, why_not in checks:
            found = run()
            if found is not None:
                trace.append(StepReport(f"exclusion:{found.reason}", True, found.detail))
                return found
            trace.append(StepReport(f"exclusion:{name}", False, why_not))
        return None

    def _blocked(self, roles: list[Role]) -> Excluded | None:
        if not self._blocked_addresses and not self._blocked_domains:
            return None
        for role, address in roles:
            if address in self._blocked_addresses:
                return Excluded(ExclusionReason.BLOCKED, f"{role}={address} is on the block list")
            domain = address.rpartition("@")[2]
            while domain:
                if domain in self._blocked_domains:
                    return Excluded(
                        ExclusionReason.BLOCKED,
                        f"{role}={address}: domain {domain} is on the block list",
                    )
                domain = domain.partition(".")[2]
        return None

    def _internal(self, roles: list[Role], index: CrmIndex) -> Excluded | None:
        if not self._internal_only or not roles:
            return None
        # CrmIndex.is_internal, inlined: it runs for every participant of every item.
        users, domains = index.user_emails, index.internal_domains
        for _role, address in roles:
            if address not in users and address.rpartition("@")[2] not in domains:
                return None
        return Excluded(
            ExclusionReason.INTERNAL_ONLY, f"all {len(roles)} participants are our own users"
        )


def _private(item: CorrespondenceItem) -> Excluded | None:
    if item.sensitivity in _PRIVATE:
        return Excluded(ExclusionReason.PRIVATE, f"sensitivity is {item.sensitivity}")
    return None


def _bulk_or_automatic(item: CorrespondenceItem) -> Excluded | None:
    if not isinstance(item, MessageItem):
        return None
    if item.headers:
        found = _from_headers(item.headers)
        if found is not None:
            return found
    if _AUTO_SUBJECT.match(item.subject):
        return Excluded(
            ExclusionReason.AUTOMATIC, f"subject {item.subject[:60]!r} is an auto-reply"
        )
    return None


def _from_headers(headers: Mapping[str, str]) -> Excluded | None:
    for key, value in headers.items():
        # Most headers (Received, DKIM-Signature, Subject, ...) cannot be one we
        # look for; their first letter says so without lower-casing the name.
        if key[:1] not in _FIRST_LETTERS:
            continue
        name = key.lower()
        if name == "auto-submitted":
            # RFC 3834: "no" means a person sent it; parameters may follow ';'.
            if value.split(";")[0].strip().lower() != "no":
                return Excluded(ExclusionReason.AUTOMATIC, f"header Auto-Submitted: {value}")
        elif name == "precedence":
            if value.strip().lower() in _BULK_PRECEDENCE:
                return Excluded(ExclusionReason.BULK, f"header Precedence: {value}")
        elif name in _BULK_HEADERS:
            return Excluded(ExclusionReason.BULK, f"header {_BULK_HEADERS[name]} present")
        elif name in _AUTO_HEADERS:
            return Excluded(ExclusionReason.AUTOMATIC, f"header {_AUTO_HEADERS[name]} present")
        elif name == "return-path" and value.strip() == "<>":
            return Excluded(ExclusionReason.AUTOMATIC, "null Return-Path <> (bounce)")
    return None
