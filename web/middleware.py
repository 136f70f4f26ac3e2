"""ASGI middleware: a hard cap on request bodies, and security headers on every answer.

The body cap is enforced on the byte stream, not only on Content-Length, so
a chunked upload without a length cannot stream gigabytes into a JSON parser.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

OFFICE_FRAME_ANCESTORS = (
    "https://outlook.office.com",
    "https://outlook.office365.com",
    "https://outlook.live.com",
    "https://outlook.cloud.microsoft",
    "https://*.officeapps.live.com",
)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0
        started = False
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answer 413 now and tell the app the client went away, so it stops
                    # reading; whatever it tries to send afterwards is dropped.
                    rejected = True
                    if not started:
                        await _too_large(send, self.max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes", "errors": []}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """API answers may never be framed, sniffed or cached; add-in pages may be framed by Office."""

    def __init__(self, app: ASGIApp, *, https: bool, addin_prefix: str, docs_path: str) -> None:
        self.app = app
        self.https = https
        self.addin_prefix = addin_prefix
        self.docs_path = docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers_for(scope.get("path", ""))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers.extend((k, v) for k, v in extra if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

    def _headers_for(self, path: str) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-resource-policy", b"same-site"),
        ]
        if self.https:
            headers.append((b"strict-transport-security", b"max-age=31536000"))
        if path.startswith(self.addin_prefix + "/"):
            ancestors = " ".join(("'self'", *OFFICE_FRAME_ANCESTORS))
            csp = (
                "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "connect-src 'self' https://login.microsoftonline.com; "
                f"object-src 'none'; base-uri 'self'; frame-ancestors {ancestors}"
            )
            headers.append((b"content-security-policy", csp.encode()))
        elif path == self.docs_path:
            cdn = "https://cdn.jsdelivr.net"
            csp = (
                f"default-src 'self'; script-src 'self' 'unsafe-inline' {cdn}; "
                f"style-src 'self' {cdn}; img-src 'self' data: https://fastapi.tiangolo.com; "
                "frame-ancestors 'none'"
            )
            headers.append((b"content-security-policy", csp.encode()))
            headers.append((b"x-frame-options", b"DENY"))
        else:
            headers.extend(
                [
                    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
                    (b"x-frame-options", b"DENY"),
                    (b"cache-control", b"no-store"),
                ]
            )
        return headers


class AdmissionMiddleware:
    """At most ``limit`` API requests work at once; the rest wait here, on the event loop.

    A request holds its pooled database connection across several thread-pool
    hops (session, sign-in, route, commit). Admitting more requests than the
    pool has connections lets threads block on checkout while the holders wait
    for a thread, which ends in pool timeouts (500s) under load; it also makes
    dozens of threads fight for the GIL. Waiting in an asyncio semaphore costs
    nothing and keeps every admitted request moving.
    """

    def __init__(self, app: ASGIApp, limit: int, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self._slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        async with self._slots:
            await self.app(scope, receive, send)
