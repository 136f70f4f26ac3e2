"""The exchangelib services the driver calls, reading each response in large pieces.

exchangelib parses a SOAP response by handing lxml ``response.iter_content()``
with requests' default chunk size, which is one byte: for a response already
in memory (every service but streaming notifications) that is one Python
call per byte, about half of the driver's time on a full sync. These
subclasses hand the same parser the same bytes in 64 KiB pieces; everything
else (error handling, paging, item parsing) is exchangelib's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exchangelib.services import FindFolder, GetItem, SyncFolderItems, UpdateItem

PIECE = 64 * 1024


class _InPieces:
    """The one method exchangelib's ``_get_soap_parts`` calls on a response."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def iter_content(self) -> Iterator[bytes]:
        view = memoryview(self._content)
        for start in range(0, len(view), PIECE):
            yield bytes(view[start : start + PIECE])


class WholeResponse:
    """Mixin for an exchangelib service: parse the in-memory response in 64 KiB pieces."""

    @classmethod
    def _get_soap_parts(cls, response: Any) -> Any:
        parts = super()._get_soap_parts  # type: ignore[misc]
        content = getattr(response, "content", None)
        if isinstance(content, bytes):
            return parts(_InPieces(content))
        return parts(response)


class GetItemService(WholeResponse, GetItem):  # type: ignore[misc]
    pass


class SyncFolderItemsService(WholeResponse, SyncFolderItems):  # type: ignore[misc]
    pass


class FindFolderService(WholeResponse, FindFolder):  # type: ignore[misc]
    pass


class UpdateItemService(WholeResponse, UpdateItem):  # type: ignore[misc]
    pass
