"""A minimal XML element writer that keeps namespace declarations exactly where we put them.

The add-in-only manifest redeclares the *default* namespace on each nested VersionOverrides,
and its ``xsi:type`` values (``VersionOverridesV1_1``, ``MailHost``, ``Button`` ...) are
unprefixed QNames resolved against that default namespace. ElementTree hoists namespaces to
the root under generated prefixes, which would make those QNames resolve to the wrong schema,
so the manifest is written with this small serializer instead (text and attribute values are
always escaped; names are our own constants).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr


@dataclass
class Element:
    """An element whose attributes keep insertion order (namespace declarations first)."""

    tag: str
    attributes: dict[str, str] = field(default_factory=dict)
    children: list[Element] = field(default_factory=list)
    text: str | None = None

    def add(self, tag: str, text: str | None = None, **attributes: str) -> Element:
        child = Element(tag, dict(attributes), [], text)
        self.children.append(child)
        return child

    def append(self, child: Element) -> Element:
        self.children.append(child)
        return child


def _lines(element: Element, depth: int) -> Iterator[str]:
    indent = "  " * depth
    attrs = "".join(f" {name}={quoteattr(value)}" for name, value in element.attributes.items())
    if not element.children and element.text is None:
        yield f"{indent}<{element.tag}{attrs}/>"
    elif not element.children:
        yield f"{indent}<{element.tag}{attrs}>{escape(element.text or '')}</{element.tag}>"
    else:
        if element.text is not None:
            raise ValueError(f"<{element.tag}> cannot hold both text and child elements")
        yield f"{indent}<{element.tag}{attrs}>"
        for child in element.children:
            yield from _lines(child, depth + 1)
        yield f"{indent}</{element.tag}>"


def serialize(root: Element) -> str:
    """UTF-8 XML document text with a declaration and two-space indentation."""
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', *_lines(root, 0)]) + "\n"
