"""RFC 5322 / MIME bytes → MessageItem, or MeetingItem when it carries an invitation.

Parsed with the standard library's ``email`` package under ``policy.default``
(structured headers, decoded addresses and dates). A message whose
text/calendar part is a meeting request or cancellation is read as that
meeting, since that is what the sender sent.
"""

from __future__ import annotations

import re
from datetime import UTC
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from crm_store.items import (
    Address,
    Attachment,
    MeetingItem,
    MessageItem,
    Sensitivity,
    stable_header_key,
)
from mailsync.ingest.ics import parse_ics_bytes
from mailsync.ingest.results import IMPORTED_FOLDER, FileError

_MSG_ID = re.compile(r"<[^<>\s]+>")
_SENSITIVITY = {
    "personal": Sensitivity.PERSONAL,
    "private": Sensitivity.PRIVATE,
    "company-confidential": Sensitivity.CONFIDENTIAL,
}
_MEETING_METHODS = frozenset({"REQUEST", "CANCEL", "PUBLISH"})
_PARSER = BytesParser(policy=policy.default)


def parse_message_bytes(data: bytes, source: str) -> MessageItem | MeetingItem | FileError:
    if not data.strip():
        return FileError(source, "empty file")
    message = _PARSER.parsebytes(data)
    if not message.keys():
        return FileError(source, "not an email: no RFC 5322 header lines at the top")
    sender = _first_address(message, "From") or _first_address(message, "Sender")
    if sender is None:
        raw = message.get("From")
        why = "no From header" if raw is None else f"From header {str(raw)!r} has no address"
        return FileError(source, f"not a usable email: {why}")
    date_header = message.get("Date")
    sent_at = None
    if date_header is not None:
        sent_at = getattr(date_header, "datetime", None)
        if sent_at is None:
            return FileError(source, f"Date header {str(date_header)!r} is not an RFC 5322 date")
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
    invitation = _invitation(message, source, sender)
    if invitation is not None:
        return invitation
    message_id = _first_id(message.get("Message-ID"))
    to = _addresses(message, "To")
    cc = _addresses(message, "Cc")
    subject = _text(message.get("Subject", "")).strip()
    key = message_id or stable_header_key(
        sender=sender.address,
        recipients=sorted(a.address for a in (*to, *cc)),
        subject=subject,
        sent_at=sent_at,
    )
    attachments = tuple(_attachments(message))
    return MessageItem(
        provider_item_id=f"file:{key}",
        folder=IMPORTED_FOLDER,
        internet_message_id=message_id,
        subject=subject,
        sent_at=sent_at,
        sender=sender,
        to=to,
        cc=cc,
        bcc=_addresses(message, "Bcc"),
        in_reply_to=_first_id(message.get("In-Reply-To")),
        references=tuple(_MSG_ID.findall(str(message.get("References", "")))),
        sensitivity=_SENSITIVITY.get(
            str(message.get("Sensitivity", "")).strip().lower(), Sensitivity.NORMAL
        ),
        categories=tuple(
            k.strip() for k in _text(message.get("Keywords", "")).split(",") if k.strip()
        ),
        headers=_headers(message),
        has_attachments=bool(attachments),
        attachments=attachments,
        body_text=_body(message, "plain"),
        body_html=_body(message, "html"),
    )


def _text(value: object) -> str:
    """Header text with raw 8-bit UTF-8 (RFC 6532, common in the wild) decoded.

    The parser keeps undecodable header bytes as surrogate escapes; turn them
    back into bytes and read them as UTF-8, replacing what still fails.
    """
    text = str(value)
    if not text.isascii():
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def _first_id(value: object) -> str | None:
    if value is None:
        return None
    found = _MSG_ID.search(str(value))
    return found.group(0) if found else None


def _addresses(message: EmailMessage, name: str) -> tuple[Address, ...]:
    out: list[Address] = []
    for header in message.get_all(name) or []:
        for address in getattr(header, "addresses", ()):
            if address.addr_spec and "@" in address.addr_spec:
                out.append(Address(_text(address.addr_spec), _text(address.display_name)))
    return tuple(out)


def _first_address(message: EmailMessage, name: str) -> Address | None:
    found = _addresses(message, name)
    return found[0] if found else None


def _headers(message: EmailMessage) -> dict[str, str]:
    """First value of each header, as the rules' header conditions read them."""
    out: dict[str, str] = {}
    for name, value in message.items():
        out.setdefault(name, _text(value))
    return out


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or not isinstance(part, EmailMessage):
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else None


def _attachments(message: EmailMessage) -> list[Attachment]:
    out: list[Attachment] = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage):
            continue
        payload = part.get_payload(decode=True)
        out.append(
            Attachment(
                name=part.get_filename() or "",
                content_type=part.get_content_type(),
                size=len(payload) if isinstance(payload, bytes) else 0,
                is_inline=part.get_content_disposition() == "inline",
            )
        )
    return out


def _invitation(
    message: EmailMessage, source: str, sender: Address
) -> MeetingItem | FileError | None:
    """The meeting a text/calendar part requests or cancels, if there is one."""
    for part in message.walk():
        if part.get_content_type() != "text/calendar":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        method = str(part.get_param("method") or "").upper()
        if method and method not in _MEETING_METHODS:
            return None  # a REPLY (accept/decline) is mail about a meeting, not the meeting
        meetings = parse_ics_bytes(payload, f"{source} (text/calendar part)", sender)
        if isinstance(meetings, FileError):
            return meetings
        return meetings[0]
    return None
