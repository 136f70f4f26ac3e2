"""``make_link``, ``make_linked``, ``make_suggestion``: results built for the hot path.

The frozen dataclass ``__init__`` sets each of its six fields through
``object.__setattr__``, about 1 µs per link in CPython 3.11; with ~3 links per
message that is a sixth of the 20 µs budget. Writing the slots through their
descriptors gives the identical object in about half the time. Matchers pass
the evidence as a ``DeferredEvidence`` tuple (template and the objects it
names), so no record's name is read per message. The shortcut
is only taken while ``LinkSpec`` has exactly the fields below and no
``__post_init__``; any change to the shared type falls back to the ordinary
constructor (and ``tests/rules`` says so). ``Linked`` (one per stored item)
and ``Suggestion`` are built the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from crm_store.items import DeferredEvidence, LinkSpec, OriginKind, TargetKind
from rules.results import Linked, Suggestion

FIELDS = ("target_kind", "target_id", "origin_kind", "origin", "evidence_source", "actor")
LINKED_FIELDS = ("links", "suggestions", "store_body", "add_categories", "fired_rules")
SUGGESTION_FIELDS = ("target_kind", "target_id", "reason_source")


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Any, ...] | None:
    if tuple(f.name for f in dataclasses.fields(cls)) != names:
        return None
    if hasattr(cls, "__post_init__"):
        return None
    return tuple(cls.__dict__[name].__set__ for name in names)


_SETTERS = _slot_setters(LinkSpec, FIELDS)
_LINKED_SETTERS = _slot_setters(Linked, LINKED_FIELDS)
_SUGGESTION_SETTERS = _slot_setters(Suggestion, SUGGESTION_FIELDS)
FAST = None not in (_SETTERS, _LINKED_SETTERS, _SUGGESTION_SETTERS)


_new = object.__new__

if _SETTERS is not None:
    _kind, _id, _origin_kind, _origin, _evidence, _actor = _SETTERS

    def make_link(
        kind: TargetKind,
        target_id: int,
        origin_kind: OriginKind,
        origin: str,
        evidence: str | DeferredEvidence,
    ) -> LinkSpec:
        link: LinkSpec = _new(LinkSpec)
        _kind(link, kind)
        _id(link, target_id)
        _origin_kind(link, origin_kind)
        _origin(link, origin)
        _evidence(link, evidence)
        _actor(link, None)
        return link

else:

    def make_link(
        kind: TargetKind,
        target_id: int,
        origin_kind: OriginKind,
        origin: str,
        evidence: str | DeferredEvidence,
    ) -> LinkSpec:
        return LinkSpec(kind, target_id, origin_kind, origin, evidence)


if _LINKED_SETTERS is not None:
    _links, _suggestions, _store_body, _add_categories, _fired_rules = _LINKED_SETTERS

    def make_linked(
        links: tuple[LinkSpec, ...],
        suggestions: tuple[Suggestion, ...],
        store_body: bool,
        add_categories: tuple[str, ...],
        fired_rules: tuple[str, ...],
    ) -> Linked:
        """The engine's result for every stored item, built the same way (~1 µs saved)."""
        result: Linked = _new(Linked)
        _links(result, links)
        _suggestions(result, suggestions)
        _store_body(result, store_body)
        _add_categories(result, add_categories)
        _fired_rules(result, fired_rules)
        return result

else:

    def make_linked(
        links: tuple[LinkSpec, ...],
        suggestions: tuple[Suggestion, ...],
        store_body: bool,
        add_categories: tuple[str, ...],
        fired_rules: tuple[str, ...],
    ) -> Linked:
        return Linked(links, suggestions, store_body, add_categories, fired_rules)


if _SUGGESTION_SETTERS is not None:
    _s_kind, _s_id, _s_reason = _SUGGESTION_SETTERS

    def make_suggestion(
        kind: TargetKind, target_id: int, reason: str | DeferredEvidence
    ) -> Suggestion:
        suggestion: Suggestion = _new(Suggestion)
        _s_kind(suggestion, kind)
        _s_id(suggestion, target_id)
        _s_reason(suggestion, reason)
        return suggestion

else:

    def make_suggestion(
        kind: TargetKind, target_id: int, reason: str | DeferredEvidence
    ) -> Suggestion:
        return Suggestion(kind, target_id, reason)
