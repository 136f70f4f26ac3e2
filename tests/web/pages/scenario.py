"""A small company whose visibility rules every page test checks against.

Team North: manager Maria, salespeople Anna and Ben (reporting to Maria).
Outside the team: Carl (salesperson, no manager) and Ada (admin).

What is stored, and who must see it (admin sees every non-private linked item):

- ``anna_mail``   in Anna's mailbox, linked to Anna's deal      → Anna, Maria
- ``carl_mail``   in Carl's mailbox, linked to Carl's account   → Carl
- ``crossed``     in Carl's mailbox, linked to Anna's deal      → Carl, Anna, Maria
- ``private``     in Anna's mailbox, private, linked            → nobody
- ``unlinked``    in Anna's mailbox, no link                    → nobody
- ``ben_mail``    in Ben's mailbox, linked to Carl's account    → Ben, Maria, Carl
- ``meeting``     Anna's calendar, Europe/Berlin, linked to Anna's deal → Anna, Maria
- ``suggested``   in Anna's mailbox, linked to Acme, suggested for Anna's 2nd deal

The subjects carry the item's name so a page (or a browser) can be checked
for exactly the expected set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from crm_store.items import (
    Address,
    Attachment,
    Direction,
    LinkSpec,
    OriginKind,
    Sensitivity,
    TargetKind,
)
from crm_store.models import Message, User
from crm_store.sync_writes import PageWrite, apply_page
from tests.factories import (
    make_account,
    make_contact,
    make_mailbox,
    make_opportunity,
    make_user,
    meeting_item,
    message_item,
)
from web.auth.api_tokens import issue_token

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
ITEM_NAMES = ("anna_mail", "carl_mail", "crossed", "private", "unlinked", "ben_mail", "meeting")

SEES: dict[str, set[str]] = {
    "anna": {"anna_mail", "crossed", "meeting", "suggested"},
    "ben": {"ben_mail"},
    "maria": {"anna_mail", "crossed", "ben_mail", "meeting", "suggested"},
    "carl": {"carl_mail", "crossed", "ben_mail"},
    "ada": {"anna_mail", "carl_mail", "crossed", "ben_mail", "meeting", "suggested"},
}
NEVER_SHOWN = {"private", "unlinked"}

HOSTILE_HTML = """<p>Quarterly numbers attached.</p>
<script>window.__pwned = "script"; console.log("PWNED script")</script>
<img src="x" onerror="window.__pwned='onerror'; console.log('PWNED onerror')">
<img src="https://tracker.example/pixel.gif" alt="tracker">
<a id="js-link" href="javascript:window.__pwned='javascript-url';alert('PWNED')">click me</a>
<div style="width: expression(alert('PWNED')); background-image: url(javascript:alert(1))">css</div>
<svg onload="window.__pwned='svg'; alert('PWNED svg')">
<script>window.__pwned='svg-script'</script></svg>
<iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>
<body onload="alert('PWNED body')"><details open ontoggle="alert('PWNED toggle')">x</details>
<math><mtext><table><mglyph><style><img src=x onerror=alert('PWNED mxss')>
</style></mglyph></table></mtext></math>
<form action="javascript:alert(1)"><button id="submit-me">send</button></form>
<meta http-equiv="refresh" content="0;url=javascript:alert('PWNED meta')">
<p style="position:fixed;top:0;left:0;width:100vw;height:100vh;background:red">overlay</p>"""


@dataclass(frozen=True)
class Team:
    users: dict[str, int]
    tokens: dict[str, str]
    emails: dict[str, str]
    items: dict[str, tuple[str, int]]  # name → (kind, id)
    anna_deal: int
    anna_deal2: int
    carl_account: int
    acme: int
    acme_contact: int
    suggestion: int

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def build_team(session: Session, *, hostile_body: bool = False) -> Team:
    """Write the scenario and commit it (pages read through their own sessions)."""
    ada = make_user(session, email="ada@ourco.example", display_name="Ada Admin", role="admin")
    maria = make_user(
        session, email="maria@ourco.example", display_name="Maria Manager", role="manager"
    )
    anna = make_user(session, email="anna@ourco.example", display_name="Anna Seller", manager=maria)
    ben = make_user(session, email="ben@ourco.example", display_name="Ben Seller", manager=maria)
    carl = make_user(session, email="carl@ourco.example", display_name="Carl Other")
    people: dict[str, User] = {"ada": ada, "maria": maria, "anna": anna, "ben": ben, "carl": carl}
    boxes = {
        name: make_mailbox(session, address=people[name].email, owner=people[name])
        for name in ("anna", "ben", "carl")
    }

    acme = make_account(session, name="Acme Robotics", domains=["acme.example"], owner=anna)
    beta = make_account(session, name="Beta Logistics", domains=["beta.example"], owner=carl)
    jane = make_contact(session, account=acme, emails=["jane@acme.example"], first_name="Jane")
    make_contact(session, account=beta, emails=["bob@beta.example"], first_name="Bob")
    deal = make_opportunity(session, account=acme, code="OPP-100001", name="Acme arms", owner=anna)
    deal2 = make_opportunity(
        session, account=acme, code="OPP-100002", name="Acme spares", owner=anna
    )
    make_opportunity(session, account=beta, code="OPP-200001", name="Beta fleet", owner=carl)

    def rule(kind: TargetKind, ident: int, why: str) -> LinkSpec:
        return LinkSpec(kind, ident, OriginKind.RULE, "contact-address", why)

    def store(box: str, name: str, links: list[LinkSpec], **fields: object) -> int:
        item = message_item(subject=f"[{name}] about the order", **fields)  # type: ignore[arg-type]
        result = apply_page(
            session,
            boxes[box].id,
            PageWrite(
                folder=item.folder,
                messages=[item],
                links={item.message_key: links} if links else {},
                tracked_keys=frozenset({item.message_key}),
            ),
        )
        return result.message_ids[item.message_key]

    at = NOW - timedelta(days=3)
    items: dict[str, tuple[str, int]] = {}
    items["anna_mail"] = (
        "message",
        store(
            "anna",
            "anna_mail",
            [rule(TargetKind.OPPORTUNITY, deal.id, "tracking code OPP-100001")],
            sender=Address("jane@acme.example", "Jane Acme"),
            to=["anna@ourco.example"],
            sent_at=at,
            conversation_id="conv-acme",
            direction=Direction.INBOUND,
            body_html=HOSTILE_HTML if hostile_body else "<p>Hello <b>Anna</b></p>",
            attachments=(Attachment("quote.pdf", "application/pdf", 20480),),
            has_attachments=True,
        ),
    )
    items["crossed"] = (
        "message",
        store(
            "carl",
            "crossed",
            [rule(TargetKind.OPPORTUNITY, deal.id, "subject names OPP-100001")],
            sender="carl@ourco.example",
            to=["jane@acme.example"],
            sent_at=at + timedelta(hours=2),
            conversation_id="conv-acme",
            direction=Direction.OUTBOUND,
        ),
    )
    items["carl_mail"] = (
        "message",
        store(
            "carl",
            "carl_mail",
            [rule(TargetKind.ACCOUNT, beta.id, "domain beta.example")],
            sender="bob@beta.example",
            to=["carl@ourco.example"],
            sent_at=at - timedelta(days=1),
            direction=Direction.INBOUND,
        ),
    )
    items["private"] = (
        "message",
        store(
            "anna",
            "private",
            [rule(TargetKind.OPPORTUNITY, deal.id, "tracking code")],
            sender="jane@acme.example",
            to=["anna@ourco.example"],
            sent_at=at - timedelta(hours=5),
            direction=Direction.INBOUND,
        ),
    )
    # The sync path refuses private items; an older store or another writer may not have,
    # which is why the pages filter them again: mark it private behind the store's back.
    session.execute(
        update(Message)
        .where(Message.id == items["private"][1])
        .values(sensitivity=Sensitivity.PRIVATE.value)
    )
    items["unlinked"] = (
        "message",
        store(
            "anna",
            "unlinked",
            [],
            sender="jane@acme.example",
            to=["anna@ourco.example"],
            sent_at=at - timedelta(hours=6),
            direction=Direction.INBOUND,
        ),
    )
    items["ben_mail"] = (
        "message",
        store(
            "ben",
            "ben_mail",
            [rule(TargetKind.ACCOUNT, beta.id, "domain beta.example")],
            sender="ben@ourco.example",
            to=["bob@beta.example"],
            sent_at=at - timedelta(days=8),
            direction=Direction.OUTBOUND,
        ),
    )
    items["suggested"] = (
        "message",
        store(
            "anna",
            "suggested",
            [rule(TargetKind.ACCOUNT, acme.id, "domain acme.example")],
            sender="jane@acme.example",
            to=["anna@ourco.example"],
            sent_at=at - timedelta(days=2),
            direction=Direction.INBOUND,
        ),
    )
    start = datetime(2026, 3, 17, 10, 0, tzinfo=BERLIN)
    meeting = meeting_item(
        subject="[meeting] Acme demo",
        start=start.astimezone(UTC),
        timezone="Europe/Berlin",
        organizer="anna@ourco.example",
        attendees=["jane@acme.example"],
        location="Acme HQ",
        uid="040000008200E00074C5B7101A82E008-acme-demo",
    )
    result = apply_page(
        session,
        boxes["anna"].id,
        PageWrite(
            folder="calendar",
            meetings=[meeting],
            links={meeting.meeting_key: [rule(TargetKind.OPPORTUNITY, deal.id, "attendee jane")]},
            tracked_keys=frozenset({meeting.meeting_key}),
        ),
    )
    items["meeting"] = ("meeting", result.meeting_ids[meeting.meeting_key])

    from crm_store.models import LinkSuggestion

    suggestion = LinkSuggestion(
        item_kind="message",
        item_id=items["suggested"][1],
        target_kind="opportunity",
        target_id=deal2.id,
        reason="Acme has two open deals; OPP-100002 matches the subject",
    )
    session.add(suggestion)
    session.flush()
    tokens = {name: issue_token(session, user).token for name, user in people.items()}
    session.commit()
    return Team(
        users={n: u.id for n, u in people.items()},
        tokens=tokens,
        emails={n: u.email for n, u in people.items()},
        items=items,
        anna_deal=deal.id,
        anna_deal2=deal2.id,
        carl_account=beta.id,
        acme=acme.id,
        acme_contact=jane.id,
        suggestion=suggestion.id,
    )
