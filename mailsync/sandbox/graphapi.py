"""Graph v1.0 request handling, independent of the HTTP transport.

The transport authenticates, counts and injects faults; this module turns one
(method, path, query, headers, body) into a status, headers and JSON, so that
``$batch`` can run its inner requests through exactly the same code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from mailsync.sandbox.calendarplan import CALENDAR, event_ref, is_event_ref, split_event_ref
from mailsync.sandbox.deltatoken import BadToken, DeltaTokenCodec
from mailsync.sandbox.graphjson import corrupt, event_json, folder_id, folder_json, message_json
from mailsync.sandbox.mailplan import MAIL_FOLDERS
from mailsync.sandbox.world import CopyState, DeltaEntry, DeltaPosition, SandboxError, World

_BODY_PROPERTIES = frozenset({"body", "bodyPreview", "uniqueBody"})
_FOLDER_SEGMENT = re.compile(r"^mailFolders(?:\('([^']+)'\))?$")


@dataclass(frozen=True, slots=True)
class GraphRequest:
    method: str
    path: str  # after /v1.0, e.g. /users/x/messages/id
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    principal_mailbox: int | None  # set for delegated tokens, None for app tokens


@dataclass(slots=True)
class GraphResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    mailbox: str | None = None
    folder: str | None = None


@dataclass(frozen=True, slots=True)
class Preferences:
    max_page_size: int | None
    immutable_ids: bool
    text_body: bool

    @classmethod
    def parse(cls, header: str) -> Preferences:
        size: int | None = None
        immutable = text = False
        for part in re.split(r",\s*", header):
            name, _, value = part.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "odata.maxpagesize" and value.isdigit():
                size = int(value)
            elif name == "idtype" and value.lower() == "immutableid":
                immutable = True
            elif name == "outlook.body-content-type" and value.lower() == "text":
                text = True
        return cls(size, immutable, text)


@dataclass(frozen=True, slots=True)
class GraphSettings:
    base_url: str
    max_page_size: int = 999
    default_page_size: int = 10
    require_immutable_id: bool = False


def graph_error(status: int, code: str, message: str) -> GraphResponse:
    return GraphResponse(status, {"error": {"code": code, "message": message}})


class GraphApi:
    def __init__(self, world: World, settings: GraphSettings, tokens: DeltaTokenCodec) -> None:
        self.world = world
        self.settings = settings
        self.tokens = tokens

    # ---- routing ------------------------------------------------------------------------

    def mailbox_of(self, path: str, principal: int | None) -> tuple[int | None, list[str]]:
        """Mailbox index named by the path (``/users/{id}`` or ``/me``) and the rest."""
        parts = [p for p in path.split("/") if p]
        if parts and parts[0] == "me":
            return principal, parts[1:]
        if len(parts) >= 2 and parts[0] == "users":
            return self.world.mailbox_index(parts[1]), parts[2:]
        return None, parts

    def handle(self, request: GraphRequest) -> GraphResponse:
        try:
            return self._handle(request)
        except SandboxError as exc:
            return graph_error(exc.status, exc.code, exc.message)

    def _handle(self, request: GraphRequest) -> GraphResponse:
        mailbox, rest = self.mailbox_of(request.path, request.principal_mailbox)
        if mailbox is None:
            if request.path.strip("/") == "me":
                raise SandboxError(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                )
            raise SandboxError(
                400, "BadRequest", f"Resource not found for the segment '{request.path}'."
            )
        if request.principal_mailbox is not None and request.principal_mailbox != mailbox:
            raise SandboxError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        prefs = Preferences.parse(request.headers.get("prefer", ""))
        if self.settings.require_immutable_id and not prefs.immutable_ids:
            raise SandboxError(
                400, "ErrorInvalidRequest", 'This sandbox requires Prefer: IdType="ImmutableId".'
            )
        address = self.world.mailbox_address(mailbox)
        response = self._route(request, mailbox, rest, prefs)
        response.mailbox = address
        applied = []
        if prefs.immutable_ids:
            applied.append('IdType="ImmutableId"')
        if "page_size" in response.headers:
            applied.append(f"odata.maxpagesize={response.headers.pop('page_size')}")
        if applied:
            response.headers["Preference-Applied"] = ", ".join(applied)
        return response

    def _route(
        self, request: GraphRequest, mailbox: int, rest: list[str], prefs: Preferences
    ) -> GraphResponse:
        method = request.method
        if not rest and method == "GET":
            user = self.world.users[mailbox]
            return GraphResponse(
                200,
                {
                    "id": user.object_id,
                    "mail": user.email,
                    "userPrincipalName": user.email,
                    "displayName": user.display_name,
                },
            )
        head = _FOLDER_SEGMENT.match(rest[0]) if rest else None
        if head is not None:
            folder_name = head.group(1)
            tail = rest[1:]
            if folder_name is None and tail:
                folder_name, tail = tail[0], tail[1:]
            if folder_name is None:
                return self._folders(mailbox)
            folder = self._folder_key(mailbox, folder_name)
            if not tail and method == "GET":
                return self._folder(mailbox, folder)
            if tail == ["messages", "delta"] and method == "GET":
                return self._delta(request, mailbox, folder, prefs)
            if len(tail) == 2 and tail[0] == "messages":
                return self._item(request, mailbox, tail[1], prefs, folder)
        if len(rest) == 2 and rest[0] in ("messages", "events"):
            return self._item(request, mailbox, rest[1], prefs, None)
        if (
            rest in (["calendarView", "delta"], ["calendar", "calendarView", "delta"])
            and method == "GET"
        ):
            return self._delta(request, mailbox, CALENDAR, prefs)
        raise SandboxError(
            400, "BadRequest", f"Resource not found for the segment '{'/'.join(rest)}'."
        )

    def _folder_key(self, mailbox: int, name: str) -> str:
        lowered = name.lower()
        if lowered in MAIL_FOLDERS:
            return lowered
        for folder in MAIL_FOLDERS:
            if folder_id(self.world.config.seed, mailbox, folder) == name:
                return folder
        raise SandboxError(
            404, "ErrorInvalidIdMalformed", f"Id is malformed or unknown folder: {name}"
        )

    def _folders(self, mailbox: int) -> GraphResponse:
        box = self.world.mailboxes[mailbox]
        value = [
            folder_json(self.world.config.seed, mailbox, f, len(box.baseline[f]))
            for f in MAIL_FOLDERS
        ]
        return GraphResponse(
            200,
            {
                "@odata.context": (
                    f"{self.settings.base_url}/v1.0/$metadata"
                    f"#users('{self.world.mailbox_address(mailbox)}')/mailFolders"
                ),
                "value": value,
            },
        )

    def _folder(self, mailbox: int, folder: str) -> GraphResponse:
        box = self.world.mailboxes[mailbox]
        response = GraphResponse(
            200, folder_json(self.world.config.seed, mailbox, folder, len(box.baseline[folder]))
        )
        response.folder = folder
        return response

    # ---- delta --------------------------------------------------------------------------

    def delta_url(self, mailbox: int, folder: str, kind: str, token: str) -> str:
        who = quote(self.world.mailbox_address(mailbox), safe="@")
        base = f"{self.settings.base_url}/v1.0/users/{who}"
        path = (
            "calendarView/delta" if folder == CALENDAR else f"mailFolders/{folder}/messages/delta"
        )
        return f"{base}/{path}?{kind}={token}"

    def _position(
        self, request: GraphRequest, mailbox: int, folder: str
    ) -> tuple[DeltaPosition, bool]:
        """The round's position, and whether the client came back with a delta token."""
        query = request.query
        token = query.get("$skiptoken") or query.get("$deltatoken")
        if token:
            try:
                owner, position = self.tokens.decode(token)
            except BadToken as exc:
                raise SandboxError(400, "BadRequest", f"The delta token is invalid: {exc}") from exc
            if owner != mailbox or position.folder != folder:
                raise SandboxError(400, "BadRequest", "The delta token belongs to another folder.")
            if not self.world.check_epoch(mailbox, position):
                raise SandboxError(
                    410, "SyncStateNotFound", "The sync state generation is no longer valid."
                )
            if "$deltatoken" in query:
                return self.world.resume_round(mailbox, position), True
            return position, False
        select = None
        if "$select" in query:
            select = tuple(sorted(s.strip() for s in query["$select"].split(",") if s.strip()))
        window = None
        if folder == CALENDAR:
            start, end = query.get("startDateTime"), query.get("endDateTime")
            if not start or not end:
                raise SandboxError(
                    400,
                    "ErrorInvalidParameter",
                    "This request requires a time window specified by the query string "
                    "parameters StartDateTime and EndDateTime.",
                )
            _parse_time(start), _parse_time(end)
            window = (start, end)
        return self.world.start_position(mailbox, folder, select=select, window=window), False

    def _delta(
        self, request: GraphRequest, mailbox: int, folder: str, prefs: Preferences
    ) -> GraphResponse:
        position, _ = self._position(request, mailbox, folder)
        size = min(
            prefs.max_page_size or self.settings.default_page_size, self.settings.max_page_size
        )
        size = max(1, size)
        in_window = None
        if position.window is not None:
            low, high = _parse_time(position.window[0]), _parse_time(position.window[1])

            def in_window(ref: int) -> bool:
                occurrence = self.world.occurrence(ref)
                return occurrence.end > low and occurrence.start < high

        page = self.world.delta_page(mailbox, position, size, in_window)
        select = frozenset(position.select) if position.select is not None else None
        expand = (
            "0x0036" in request.query.get("$expand", "").lower()
            or "0x36" in request.query.get("$expand", "").lower()
        )
        value = [self._entry_json(mailbox, folder, e, select, prefs, expand) for e in page.entries]
        body: dict[str, Any] = {
            "@odata.context": (
                f"{self.settings.base_url}/v1.0/$metadata"
                f"#Collection({'event' if folder == CALENDAR else 'message'})"
            ),
            "value": value,
        }
        if page.next_position is not None:
            body["@odata.nextLink"] = self.delta_url(
                mailbox, folder, "$skiptoken", self.tokens.encode(mailbox, page.next_position)
            )
        else:
            assert page.delta_position is not None
            body["@odata.deltaLink"] = self.delta_url(
                mailbox, folder, "$deltatoken", self.tokens.encode(mailbox, page.delta_position)
            )
        response = GraphResponse(200, body, {"page_size": str(size)})
        response.folder = folder
        return response

    def _entry_json(
        self,
        mailbox: int,
        folder: str,
        entry: DeltaEntry,
        select: frozenset[str] | None,
        prefs: Preferences,
        expand: bool,
    ) -> dict[str, Any]:
        """Upserts of a folder's round are in that folder; removals left it."""
        item_id = self.world.ids.encode(mailbox, entry.ref, None if prefs.immutable_ids else folder)
        if entry.removed is not None:
            kind = "event" if is_event_ref(entry.ref) else "message"
            return {
                "@odata.type": f"#microsoft.graph.{kind}",
                "id": item_id,
                "@removed": {"reason": entry.removed},
            }
        return self._item_json(
            mailbox, entry.ref, entry.state, folder, item_id, select, prefs, expand
        )

    def _item_json(
        self,
        mailbox: int,
        ref: int,
        state: CopyState | None,
        folder: str,
        item_id: str,
        select: frozenset[str] | None,
        prefs: Preferences,
        expand: bool,
    ) -> dict[str, Any]:
        categories = state.categories if state else ()
        if is_event_ref(ref):
            origin, number, _ = split_event_ref(ref)
            return event_json(
                self.world.occurrence(ref),
                item_id=item_id,
                master_id=self.world.ids.encode(mailbox, event_ref(origin, number, 0xFFF)),
                mailbox_address=self.world.mailbox_address(mailbox),
                created=self.world.anchor - timedelta(days=90),
                categories=categories,
            )
        with_body = select is None or not select.isdisjoint(_BODY_PROPERTIES)
        message = self.world.plan.render(ref, with_body=with_body)
        address = self.world.mailbox_address(mailbox)
        received = (
            message.sent_at
            if message.sender.address == address
            else message.sent_at + timedelta(seconds=31)
        )
        item = message_json(
            message,
            item_id=item_id,
            parent_folder_id=folder_id(self.world.config.seed, mailbox, folder),
            received_at=received,
            categories=categories,
            is_read=state.is_read if state else True,
            select=select,
            expand_sensitivity=expand,
            body_as_text=prefs.text_body,
        )
        if self.world.is_malformed(ref):
            return corrupt(item, ref)
        return item

    # ---- single items ---------------------------------------------------------------------

    def _item(
        self,
        request: GraphRequest,
        mailbox: int,
        item_id: str,
        prefs: Preferences,
        folder_hint: str | None,
    ) -> GraphResponse:
        decoded = self.world.ids.decode(item_id)
        if decoded is None or decoded[0] != mailbox:
            raise SandboxError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
        ref = decoded[1]
        if request.method == "PATCH":
            try:
                patch = json.loads(request.body or b"{}")
            except ValueError as exc:
                raise SandboxError(
                    400, "BadRequest", "Unable to read JSON request payload."
                ) from exc
            if not isinstance(patch, dict):
                raise SandboxError(400, "BadRequest", "Unable to read JSON request payload.")
            categories = patch.get("categories")
            if categories is not None:
                if not isinstance(categories, list) or not all(
                    isinstance(c, str) for c in categories
                ):
                    raise SandboxError(400, "BadRequest", "categories must be a list of strings.")
                self.world.set_categories(mailbox, ref, categories)
        elif request.method != "GET":
            raise SandboxError(
                405, "ErrorInvalidRequest", f"{request.method} is not supported here."
            )
        folder, state = self.world.existing_copy(mailbox, ref)
        if folder_hint is not None and folder_hint != folder:
            raise SandboxError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        select = None
        if "$select" in request.query:
            select = frozenset(s.strip() for s in request.query["$select"].split(",") if s.strip())
        expand = (
            "0x36" in request.query.get("$expand", "").lower()
            or "0x0036" in request.query.get("$expand", "").lower()
        )
        shown_id = self.world.ids.encode(mailbox, ref, None if prefs.immutable_ids else folder)
        response = GraphResponse(
            200, self._item_json(mailbox, ref, state, folder, shown_id, select, prefs, expand)
        )
        response.folder = folder
        return response


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SandboxError(
            400, "ErrorInvalidParameter", f"Invalid date time value {value!r}."
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
