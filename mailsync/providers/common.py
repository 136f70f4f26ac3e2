"""What every driver's normaliser shares, so Graph and EWS keep items alike.

One message can reach the store through Graph for one mailbox and through EWS
for another (a hybrid company, invariant 2): the headers the rules read, the
sensitivity words and the text made of an HTML body must not depend on which
driver read it, so they live here and both normalisers use them.
"""

from __future__ import annotations

from html.parser import HTMLParser

from crm_store.items import Sensitivity

# Headers the rules read (threading, bulk/auto-reply detection, sensitivity); the
# rest of a message's headers is dropped at once. Keys are stored lower-case.
KEPT_HEADERS = frozenset(
    {
        "in-reply-to",
        "references",
        "list-unsubscribe",
        "list-id",
        "auto-submitted",
        "precedence",
        "x-auto-response-suppress",
        "x-autoreply",
        "x-autorespond",
        "sensitivity",
    }
)

# Sensitivity as words: Graph's property, EWS's Sensitivity element and the
# MIME Sensitivity header (which says "Company-Confidential").
SENSITIVITY_WORDS = {
    "normal": Sensitivity.NORMAL,
    "personal": Sensitivity.PERSONAL,
    "private": Sensitivity.PRIVATE,
    "confidential": Sensitivity.CONFIDENTIAL,
    "company-confidential": Sensitivity.CONFIDENTIAL,
}


def kept_header(name: object, value: object) -> tuple[str, str] | None:
    """(lower-case name, stripped value) when the header is one the rules read."""
    if isinstance(name, str) and isinstance(value, str) and name.lower() in KEPT_HEADERS:
        return name.lower(), value.strip()
    return None


class _TextExtractor(HTMLParser):
    SKIP = frozenset({"script", "style", "head"})
    BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: block elements break lines, blank lines go."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)
