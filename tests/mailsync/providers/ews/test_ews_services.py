"""The driver's exchangelib services parse a response in large pieces, not byte by byte."""

from __future__ import annotations

from collections.abc import Iterator

from mailsync.providers.ews.services import PIECE, GetItemService, SyncFolderItemsService
from mailsync.sandbox.ews import soap


class HeldResponse:
    """A response already in memory whose byte-by-byte iteration must not be used."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def iter_content(self) -> Iterator[bytes]:
        raise AssertionError("iter_content() yields one byte per call; the service must not use it")


def test_in_memory_response_is_parsed_from_its_content_in_pieces() -> None:
    # GIVEN a SOAP response larger than one piece, as the endpoint writes it
    padding = "x" * (3 * PIECE)
    body = soap.response("GetItem", [soap.error("GetItem", "ErrorItemNotFound", padding)])
    # WHEN a driver service splits it into header and body
    header, soap_body = GetItemService._get_soap_parts(HeldResponse(body))
    # THEN it is the whole document, parsed without iterating the response
    assert header is not None and soap_body is not None
    assert padding in "".join(soap_body.itertext())
    _, sync_body = SyncFolderItemsService._get_soap_parts(HeldResponse(body))
    assert sync_body is not None
