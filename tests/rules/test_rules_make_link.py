"""The hot-path LinkSpec builder makes exactly what the constructor makes."""

from __future__ import annotations

import dataclasses

from crm_store.items import LinkSpec, OriginKind, TargetKind
from rules.make_link import FAST, FIELDS, make_link


def test_make_link_equals_the_dataclass_constructor() -> None:
    built = make_link(TargetKind.CONTACT, 10, OriginKind.RULE, "participant", "evidence")
    expected = LinkSpec(TargetKind.CONTACT, 10, OriginKind.RULE, "participant", "evidence")
    assert built == expected
    assert hash(built) == hash(expected)
    assert built.actor is None
    assert dataclasses.replace(built, actor="a@b.c").actor == "a@b.c"


def test_the_shortcut_is_in_use_for_the_current_linkspec() -> None:
    # If this fails, LinkSpec's fields changed: make_link has fallen back to the slow
    # constructor (still correct); update rules/make_link.py FIELDS to regain speed.
    assert tuple(f.name for f in dataclasses.fields(LinkSpec)) == FIELDS
    assert FAST
