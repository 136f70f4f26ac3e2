"""The add-in's icons, drawn in code: an envelope on a rounded square in the accent colour.

Run ``python -m addin_manifest.icons`` to rewrite the PNGs in ``static/assets`` after changing
the drawing; a test checks that the committed files still show exactly what this draws.
Shapes are anti-aliased by supersampling so the 16 px ribbon icon stays legible.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from addin_manifest.addin import ICON_SIZES, PACKAGE_COLOR_ICON, PACKAGE_OUTLINE_ICON, icon_file
from addin_manifest.png import encode_rgba

STATIC_DIR = Path(__file__).resolve().parent / "static"
ACCENT_RGB = (0x1F, 0x5F, 0x8B)
WHITE_RGB = (0xFF, 0xFF, 0xFF)
COLOR_ICON_SIZE = 192  # unified manifest: full-colour icon
OUTLINE_ICON_SIZE = 32  # unified manifest: white outline on transparent
_SUPERSAMPLE = 4
_CORNER = 0.18
_ENVELOPE = (0.2, 0.3, 0.8, 0.7)  # left, top, right, bottom in unit coordinates
_FLAP_TIP = (0.5, 0.53)
_STROKE = 0.065


def _segment_distance(
    px: float, py: float, a: tuple[float, float], b: tuple[float, float]
) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _in_rounded_square(x: float, y: float) -> bool:
    cx = min(max(x, _CORNER), 1 - _CORNER)
    cy = min(max(y, _CORNER), 1 - _CORNER)
    return math.hypot(x - cx, y - cy) <= _CORNER


def _on_envelope(x: float, y: float, stroke: float) -> bool:
    left, top, right, bottom = _ENVELOPE
    corners = ((left, top), (right, top), (right, bottom), (left, bottom))
    segments = [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    segments += [((left, top), _FLAP_TIP), (_FLAP_TIP, (right, top))]
    return any(_segment_distance(x, y, a, b) <= stroke / 2 for a, b in segments)


def _coverage(size: int, column: int, row: int, stroke: float) -> tuple[float, float]:
    """Fractions of the pixel covered by (background, envelope stroke)."""
    centre_x, centre_y = (column + 0.5) / size, (row + 0.5) / size
    half_diagonal = 0.75 / size
    # Fast paths: a pixel far from every edge is covered entirely or not at all.
    near_corner = (
        not _in_rounded_square(centre_x, centre_y)
        or min(centre_x, centre_y, 1 - centre_x, 1 - centre_y) < _CORNER + half_diagonal
    )
    near_envelope = _on_envelope(centre_x, centre_y, stroke + 4 * half_diagonal)
    if not near_corner and not near_envelope:
        return 1.0, 0.0
    background = envelope = 0
    for sy in range(_SUPERSAMPLE):
        for sx in range(_SUPERSAMPLE):
            x = (column + (sx + 0.5) / _SUPERSAMPLE) / size
            y = (row + (sy + 0.5) / _SUPERSAMPLE) / size
            background += _in_rounded_square(x, y) if near_corner else 1
            envelope += _on_envelope(x, y, stroke) if near_envelope else 0
    samples = _SUPERSAMPLE * _SUPERSAMPLE
    return background / samples, envelope / samples


def _stroke_for(size: int) -> float:
    """At least 1.5 px wide, so small icons do not dissolve into grey."""
    return max(_STROKE, 1.5 / size)


def render_color_icon(size: int) -> bytes:
    """RGBA pixels: white envelope on the accent-coloured rounded square."""
    stroke = _stroke_for(size)
    out = bytearray()
    for row in range(size):
        for column in range(size):
            background, envelope = _coverage(size, column, row, stroke)
            envelope = min(envelope, background)
            rgb = [
                round(accent + (white - accent) * (envelope / background if background else 0))
                for accent, white in zip(ACCENT_RGB, WHITE_RGB, strict=True)
            ]
            out += bytes((*rgb, round(background * 255)))
    return bytes(out)


def render_outline_icon(size: int) -> bytes:
    """RGBA pixels: the envelope alone, white on transparent (Microsoft's outline icon rule)."""
    stroke = _stroke_for(size)
    out = bytearray()
    for row in range(size):
        for column in range(size):
            _, envelope = _coverage(size, column, row, stroke)
            out += bytes((*WHITE_RGB, round(envelope * 255)))
    return bytes(out)


def icon_images() -> dict[str, tuple[int, bytes]]:
    """Relative path under static/ -> (size, RGBA pixels) for every icon the add-in ships."""
    images = {icon_file(size): (size, render_color_icon(size)) for size in ICON_SIZES}
    images[f"assets/{PACKAGE_COLOR_ICON}"] = (COLOR_ICON_SIZE, render_color_icon(COLOR_ICON_SIZE))
    images[f"assets/{PACKAGE_OUTLINE_ICON}"] = (
        OUTLINE_ICON_SIZE,
        render_outline_icon(OUTLINE_ICON_SIZE),
    )
    return images


def write_icons(static_dir: Path = STATIC_DIR) -> list[Path]:
    written = []
    for relative, (size, pixels) in icon_images().items():
        path = static_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_rgba(size, size, pixels))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_icons():
        sys.stdout.write(f"{written_path}\n")
