"""Delta paging, removals, calendar, batch and PATCH with plain httpx against the sandbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from mailsync.sandbox import SandboxHandle

Fresh = Callable[..., AbstractContextManager[SandboxHandle]]


def _truth_ids(sb: SandboxHandle, mailbox: str, folder: str) -> set[str]:
    return {
        copy["id"]
        for item in sb.truth_messages(synced=(folder,))
        for copy in item["copies"]
        if copy["mailbox"] == mailbox and not copy["removed"]
    }


def test_full_round_pages_then_idle_round_is_one_empty_request(
    shared_sandbox: SandboxHandle, shared_graph: Any
) -> None:
    mailbox = shared_sandbox.mailboxes[0]
    # WHEN the inbox is synced 40 items a page
    items, delta_link, requests = shared_graph.walk(shared_graph.delta_url(mailbox, "inbox"), 40)
    # THEN every inbox copy of the ground truth comes once, in ceil(N/40) requests
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == _truth_ids(shared_sandbox, mailbox, "inbox")
    assert requests == -(-len(ids) // 40)
    # AND the deltaLink, with nothing changed, is one request with no items
    again, _, idle_requests = shared_graph.walk(delta_link, 40)
    assert again == [] and idle_requests == 1


def test_page_size_is_capped_like_graph_and_select_is_honoured(
    fresh: Fresh, graph_for: Any
) -> None:
    with fresh(max_page_size=25) as sb:
        graph = graph_for(sb)
        url = graph.delta_url(sb.mailboxes[0], "sentitems")
        # GIVEN a client asking for 999 per page from a server that grants 25
        response = graph.get(url, 999, **{"$select": "subject,from"})
        assert len(response.json()["value"]) == 25
        assert "odata.maxpagesize=25" in response.headers["Preference-Applied"]
        assert 'IdType="ImmutableId"' in response.headers["Preference-Applied"]
        first = response.json()["value"][0]
        assert set(first) == {"@odata.etag", "id", "subject", "from"}
        # AND without Prefer the default page is small
        assert len(graph.get(url).json()["value"]) == 10
        # AND $select travels inside the nextLink
        nxt = graph.get(response.json()["@odata.nextLink"], 25).json()["value"][0]
        assert set(nxt) == {"@odata.etag", "id", "subject", "from"}


def test_headers_only_when_selected(shared_sandbox: SandboxHandle, shared_graph: Any) -> None:
    url = shared_graph.delta_url(shared_sandbox.mailboxes[0], "inbox")
    plain = shared_graph.get(url, 5).json()["value"]
    assert all("internetMessageHeaders" not in item for item in plain)
    assert all("body" in item for item in plain), "no $select means every property"
    picked = shared_graph.get(url, 5, **{"$select": "internetMessageHeaders"}).json()["value"]
    names = {h["name"] for h in picked[0]["internetMessageHeaders"]}
    assert "Message-ID" in names


def test_moves_deletes_and_new_mail_show_in_the_next_round(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        mailbox = sb.mailboxes[0]
        inbox, inbox_link, _ = graph.walk(graph.delta_url(mailbox, "inbox"), 50)
        _, archive_link, _ = graph.walk(graph.delta_url(mailbox, "archive"), 50)
        moved, soft, hard = inbox[0]["id"], inbox[1]["id"], inbox[2]["id"]
        # WHEN one message moves to the archive, one is deleted, one hard-deleted, one arrives
        sb.move(mailbox, moved, "archive")
        sb.delete(mailbox, soft)
        sb.delete(mailbox, hard, hard=True)
        arrived = sb.deliver(mailbox, 1, kind="customer")[0]
        # THEN the inbox round reports the three removals and the new message
        changes, _, _ = graph.walk(inbox_link, 50)
        removed = {c["id"]: c["@removed"]["reason"] for c in changes if "@removed" in c}
        assert removed == {moved: "changed", soft: "changed", hard: "deleted"}
        new_ids = {c["id"] for c in changes if "@removed" not in c}
        mine = [c for c in arrived["copies"] if c["mailbox"] == mailbox]
        assert {c["id"] for c in mine if c["folder"] == "inbox"} <= new_ids
        # AND the archive round has the moved message under the same (immutable) id
        archived, _, _ = graph.walk(archive_link, 50)
        assert [c["id"] for c in archived] == [moved]
        # AND ground truth agrees
        truth = {c["id"]: c for m in sb.truth_messages() for c in m["copies"]}
        assert truth[moved]["folder"] == "archive" and truth[moved]["removed"]
        assert truth[soft]["folder"] == "deleteditems"
        assert truth[hard]["folder"] is None and truth[hard]["removed"]
        assert {c["id"] for c in inbox} - {moved, soft, hard} < {
            i for i, c in truth.items() if not c["removed"]
        }


def test_without_immutable_ids_a_move_changes_the_id(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb, immutable=False)
        mailbox = sb.mailboxes[0]
        inbox, _, _ = graph.walk(graph.delta_url(mailbox, "inbox"), 50)
        item_id = inbox[0]["id"]
        _, archive_link, _ = graph.walk(graph.delta_url(mailbox, "archive"), 50)
        sb.move(mailbox, item_id, "archive")
        archived, _, _ = graph.walk(archive_link, 50)
        assert len(archived) == 1 and archived[0]["id"] != item_id


def test_reply_in_an_old_thread_keeps_its_conversation(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        mailbox = sb.mailboxes[0]
        reply = sb.deliver(mailbox, 1, reply_to_kind="customer")[0]
        graph = graph_for(sb)
        copy = next(c for c in reply["copies"] if c["mailbox"] == mailbox)
        url = f"{sb.graph_url}/users/{mailbox}/messages/{copy['id']}"
        fetched = graph.get(url, **{"$select": "conversationId,internetMessageHeaders"}).json()
        headers = {h["name"]: h["value"] for h in fetched["internetMessageHeaders"]}
        parent = next(m for m in sb.truth_messages() if m["key"] == headers["In-Reply-To"])
        assert parent["conversation_id"] == fetched["conversationId"] == reply["conversation_id"]


def test_batch_fetches_bodies_and_reports_inner_statuses(
    shared_sandbox: SandboxHandle, shared_graph: Any
) -> None:
    mailbox = shared_sandbox.mailboxes[0]
    items = shared_graph.get(shared_graph.delta_url(mailbox, "inbox"), 19).json()["value"]
    requests = [
        {
            "id": str(i),
            "method": "GET",
            "url": f"/users/{mailbox}/messages/{item['id']}?$select=body",
        }
        for i, item in enumerate(items)
    ]
    requests.append({"id": "bad", "method": "GET", "url": f"/users/{mailbox}/messages/AAMkAGnope"})
    response = shared_graph.http.post(
        f"{shared_sandbox.graph_url}/$batch",
        json={"requests": requests},
        headers=shared_graph.headers(),
    )
    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    assert set(answers) == {r["id"] for r in requests}
    assert answers["bad"]["status"] == 400
    assert all(answers[str(i)]["body"]["body"]["contentType"] == "html" for i in range(len(items)))
    too_many = shared_graph.http.post(
        f"{shared_sandbox.graph_url}/$batch",
        json={"requests": requests + requests[:1]},
        headers=shared_graph.headers(),
    )
    assert too_many.status_code == 400


def test_patch_categories_is_a_change_the_next_round_sees(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        mailbox = sb.mailboxes[0]
        inbox, link, _ = graph.walk(graph.delta_url(mailbox, "inbox"), 100)
        item_id = inbox[0]["id"]
        patched = graph.http.patch(
            f"{sb.graph_url}/users/{mailbox}/messages/{item_id}",
            json={"categories": ["Tracked to CRM"]},
            headers=graph.headers(),
        )
        assert patched.status_code == 200 and patched.json()["categories"] == ["Tracked to CRM"]
        changes, _, _ = graph.walk(link, 100)
        assert [(c["id"], c["categories"]) for c in changes] == [(item_id, ["Tracked to CRM"])]
        bad = graph.http.patch(
            f"{sb.graph_url}/users/{mailbox}/messages/{item_id}",
            json={"categories": "not a list"},
            headers=graph.headers(),
        )
        assert bad.status_code == 400


def test_calendar_delta_serves_occurrences_not_masters(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        mailbox = sb.mailboxes[0]
        url = f"{sb.graph_url}/users/{mailbox}/calendarView/delta"
        window = {"startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2026-01-01T00:00:00Z"}
        events, link, _ = graph.walk(url, 20, **window)
        types = Counter(e["type"] for e in events)
        assert "seriesMaster" not in types
        assert types["occurrence"] >= 5 and types["exception"] >= 1 and types["singleInstance"] >= 1
        assert any(e["isCancelled"] for e in events), "an attendee sees a cancelled meeting"
        exception = next(e for e in events if e["type"] == "exception")
        assert exception["originalStart"] != exception["start"]["dateTime"]
        # Ground truth keys occurrences by uid#originalStart.
        keys = {m["key"] for m in sb.truth_meetings()}
        for event in events:
            key = (
                event["uid"]
                if event["type"] == "singleInstance"
                else f"{event['uid']}#{event['originalStart']}"
            )
            assert key in keys
        # WHEN a meeting the mailbox organises is cancelled THEN its occurrences are removed
        organised = next(e for e in events if e["isOrganizer"] and not e["isCancelled"])
        sb.cancel_meeting(organised["uid"])
        changes, _, _ = graph.walk(link, 20)
        assert organised["id"] in {c["id"] for c in changes if "@removed" in c}
        # AND a missing window is refused the way Graph does
        assert graph.get(url).status_code == 400


def test_meeting_update_reaches_attendee_copies(fresh: Fresh, graph_for: Any) -> None:
    with fresh(mailboxes=3, meetings_per_mailbox=30) as sb:
        shared = next(
            m for m in sb.truth_meetings() if len(m["copies"]) > 1 and not m["is_cancelled"]
        )
        graph = graph_for(sb)
        window = {"startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"}
        links = {}
        for copy in shared["copies"]:
            url = f"{sb.graph_url}/users/{copy['mailbox']}/calendarView/delta"
            links[copy["mailbox"]] = graph.walk(url, 50, **window)[1]
        sb.update_meeting(shared["uid"], subject="Moved: new agenda", shift_minutes=30)
        for copy in shared["copies"]:
            changes, _, _ = graph.walk(links[copy["mailbox"]], 50)
            subjects = {c["subject"] for c in changes if c["uid"] == shared["uid"]}
            assert any("Moved: new agenda" in s for s in subjects)


def test_counters_show_requests_per_mailbox_and_folder(fresh: Fresh, graph_for: Any) -> None:
    with fresh() as sb:
        graph = graph_for(sb)
        mailbox = sb.mailboxes[1]
        links = [graph.walk(graph.delta_url(mailbox, f), 999)[1] for f in ("inbox", "sentitems")]
        sb.reset_stats()
        for link in links:
            graph.walk(link, 999)
        stats = sb.stats()
        assert stats["per_mailbox_folder"] == {mailbox: {"inbox": 1, "sentitems": 1}}
        assert stats["max_in_flight"][mailbox] == 1
