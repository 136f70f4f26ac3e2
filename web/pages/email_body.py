"""An email's HTML made safe to show: nh3 allow-list, remote images held back, a strict frame.

Defence in depth, because email HTML is written by strangers:
1. nh3 keeps only an allow-list of tags, attributes, URL schemes and CSS
   properties: no script, style sheet, SVG, form, iframe or event handler
   survives, and no CSS that can position itself outside the frame or fetch
   a URL (``background-image``, ``position``, ``behavior`` …).
2. Remote images are rewritten to a placeholder until the reader asks for
   them (they are read receipts); their address stays out of the page. The
   placeholder is a ``data:`` URI, not a request to us: the sandboxed frame
   has an opaque origin, and our ``Cross-Origin-Resource-Policy: same-site``
   rightly refuses it every resource of ours (it showed a broken image).
3. The document is served from its own URL with a CSP that forbids every
   script and limits images, inside an ``<iframe sandbox>`` (no scripts, a
   unique origin, no top-level navigation), so even a sanitizer bug cannot
   run code with the page's cookies.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path

import nh3

ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS) | {"font", "center", "u", "s", "span", "div"}
GLOBAL_ATTRIBUTES = {"style", "title", "dir", "lang", "align"}
TAG_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "td": {"colspan", "rowspan", "valign", "width", "height", "bgcolor"},
    "th": {"colspan", "rowspan", "valign", "width", "height", "bgcolor"},
    "table": {"width", "cellpadding", "cellspacing", "border", "bgcolor"},
    "tr": {"valign", "bgcolor"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
}
SAFE_CSS_PROPERTIES = frozenset(
    {
        "color",
        "background-color",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "text-align",
        "text-decoration",
        "text-indent",
        "text-transform",
        "line-height",
        "letter-spacing",
        "white-space",
        "vertical-align",
        "margin",
        "margin-top",
        "margin-right",
        "margin-bottom",
        "margin-left",
        "padding",
        "padding-top",
        "padding-right",
        "padding-bottom",
        "padding-left",
        "border",
        "border-top",
        "border-right",
        "border-bottom",
        "border-left",
        "border-color",
        "border-style",
        "border-width",
        "border-collapse",
        "border-spacing",
        "width",
        "max-width",
        "height",
        "list-style-type",
    }
)
BLOCKED_IMAGE_SVG = (
    Path(__file__).resolve().parent.parent / "static" / "pages" / "blocked-image.svg"
)
BLOCKED_IMAGE = "data:image/svg+xml;base64," + base64.b64encode(
    BLOCKED_IMAGE_SVG.read_bytes()
).decode("ascii")
"""What a held-back image shows: "image blocked" (the frame's CSP allows ``data:`` images)."""
LINK_SCHEMES = {"http", "https", "mailto"}
REMOTE_IMAGE_PREFIXES = ("http://", "https://", "//")


@dataclass(frozen=True, slots=True)
class SafeBody:
    html: str
    blocked_images: int


def _attribute_filter(
    placeholder: str, load_images: bool, counter: list[int]
) -> Callable[[str, str, str], str | None]:
    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            remote = value.strip().lower().startswith(REMOTE_IMAGE_PREFIXES)
            if remote and load_images and value.strip().lower().startswith("https://"):
                return value
            counter[0] += 1
            return placeholder
        if "expression(" in value.lower() or "url(" in value.lower():
            return None  # CSS that runs code (old IE) or fetches a URL
        return value

    return keep


def sanitize_email_html(html: str, *, placeholder: str, load_images: bool = False) -> SafeBody:
    """The body reduced to the allow-list; ``placeholder`` replaces every held-back image."""
    counter = [0]
    attributes = {tag: set(names) for tag, names in TAG_ATTRIBUTES.items()}
    attributes["*"] = set(GLOBAL_ATTRIBUTES)
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style", "title", "noscript", "template", "svg", "math"},
        attributes=attributes,
        attribute_filter=_attribute_filter(placeholder, load_images, counter),
        url_schemes=LINK_SCHEMES,
        filter_style_properties=set(SAFE_CSS_PROPERTIES),
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    return SafeBody(cleaned, counter[0])


def text_as_html(text: str) -> SafeBody:
    return SafeBody(f'<pre class="plain">{escape(text)}</pre>', 0)


FRAME_STYLE = (
    "html,body{margin:0;padding:8px;font:15px/1.45 system-ui,sans-serif;color:#1b1f24;"
    "background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}"
    "table{max-width:100%}pre.plain{white-space:pre-wrap;font:inherit}"
)


def frame_document(body: SafeBody) -> str:
    """The framed document; its only style is ours (a <style> in the mail was removed)."""
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        '<meta name="referrer" content="no-referrer">'
        f"<style>{FRAME_STYLE}</style></head><body>{body.html}</body></html>"
    )


def frame_csp(image_origin: str, load_images: bool) -> str:
    """No script at all; images only from us (the placeholder) or, when asked, https."""
    images = f"{image_origin} data:" + (" https:" if load_images else "")
    return (
        "default-src 'none'; script-src 'none'; object-src 'none'; "
        f"style-src 'unsafe-inline'; img-src {images}; font-src 'none'; "
        "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; "
        "sandbox allow-popups allow-popups-to-escape-sandbox"
    )
