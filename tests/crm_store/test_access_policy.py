"""The one access policy, as a table: who may see (pages) and work on (add-in API) each item.

The world is the pages' scenario (tests/web/pages/scenario.py): team North is
manager Maria with Anna and Ben; Carl is outside the team; Ada is the admin.
Pages follow ``scenario.SEES``; the API differs only where the policy says
so: an unlinked item is still workable in reach (the add-in links it), and a
private item only by the owner of the mailbox it sits in.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.items import ItemKind
from crm_store.models import Meeting, Message, User
from crm_store.visibility import Viewer, may_work_on_item, visible_items
from tests.web.pages.scenario import SEES, Team, build_team

PEOPLE = ("anna", "ben", "maria", "carl", "ada")
ITEMS = (
    "anna_mail",
    "carl_mail",
    "crossed",
    "private",
    "unlinked",
    "ben_mail",
    "meeting",
    "suggested",
)

# Who may work on each item through the add-in API (everyone in reach; private: owner only).
API: dict[str, set[str]] = {
    "anna_mail": {"anna", "maria", "ada"},
    "carl_mail": {"carl", "ada"},
    "crossed": {"carl", "anna", "maria", "ada"},
    "private": {"anna"},
    "unlinked": {"anna", "maria", "ada"},
    "ben_mail": {"ben", "maria", "carl", "ada"},
    "meeting": {"anna", "maria", "ada"},
    "suggested": {"anna", "maria", "ada"},
}

EXPECTED = {(who, item): (item in SEES[who], who in API[item]) for who in PEOPLE for item in ITEMS}
"""(person, item) → (shown in pages, workable in the API): the policy, cell by cell."""


@pytest.fixture
def team(session: Session) -> Team:
    return build_team(session)


def test_policy_table(session: Session, team: Team) -> None:
    # GIVEN every person and every item of the scenario (one world: the table is read at once)
    actual = {}
    for who in PEOPLE:
        user = session.get_one(User, team.users[who])
        viewer = Viewer(user.id, user.email, user.role)
        for item in ITEMS:
            kind_name, item_id = team.items[item]
            kind = ItemKind(kind_name)
            model = Message if kind is ItemKind.MESSAGE else Meeting
            # WHEN the pages' predicate and the API's check are asked
            shown = session.execute(
                select(model.id).where(model.id == item_id, visible_items(kind, viewer))
            ).first()
            actual[who, item] = (
                shown is not None,
                may_work_on_item(session, viewer, kind, item_id),
            )
    # THEN every cell is what the policy table says
    wrong = {cell: got for cell, got in actual.items() if got != EXPECTED[cell]}
    assert wrong == {}


def test_the_operators_view_sees_every_shown_item_but_works_on_no_private_one(
    session: Session, team: Team
) -> None:
    everyone = Viewer.everyone()
    kind, private_id = team.items["private"]
    assert not may_work_on_item(session, everyone, ItemKind(kind), private_id)
    kind, crossed_id = team.items["crossed"]
    assert may_work_on_item(session, everyone, ItemKind(kind), crossed_id)
