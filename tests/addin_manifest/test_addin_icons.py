"""The committed icons are real PNGs of the right sizes and still show what icons.py draws.

The PNGs are decoded here with a reader independent of the encoder (chunk walk, CRC check,
zlib, scanline filter), so an encoder bug cannot hide behind its own round trip.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

import pytest

from addin_manifest.icons import STATIC_DIR, icon_images
from addin_manifest.png import encode_rgba

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, RGBA pixels) of an 8-bit RGBA, non-interlaced PNG using filter 0."""
    assert data[:8] == SIGNATURE, "not a PNG"
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        position += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color, interlace) == (8, 6, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * 4 + 1
    assert len(raw) == stride * height
    assert all(raw[row * stride] == 0 for row in range(height)), "unexpected scanline filter"
    pixels = b"".join(raw[row * stride + 1 : (row + 1) * stride] for row in range(height))
    return width, height, pixels


@cache
def drawn() -> dict[str, tuple[int, bytes]]:
    return icon_images()


@pytest.mark.parametrize(
    "relative",
    [
        "assets/icon-16.png",
        "assets/icon-32.png",
        "assets/icon-64.png",
        "assets/icon-80.png",
        "assets/icon-128.png",
        "assets/color.png",
        "assets/outline.png",
    ],
)
def test_committed_icon_matches_the_drawing(relative: str) -> None:
    # GIVEN the committed file / WHEN decoded / THEN size and pixels are what icons.py draws
    size, pixels = drawn()[relative]
    width, height, committed = decode_png((STATIC_DIR / relative).read_bytes())
    assert (width, height) == (size, size)
    assert committed == pixels, f"{relative} is stale: run python -m addin_manifest.icons"


def test_outline_icon_is_white_on_transparent_and_color_icon_is_opaque_inside() -> None:
    _, outline = drawn()["assets/outline.png"]
    quads = [outline[i : i + 4] for i in range(0, len(outline), 4)]
    assert all(q[:3] == b"\xff\xff\xff" for q in quads)
    assert {q[3] for q in quads} >= {0, 255}  # both transparent and solid pixels
    size, color = drawn()["assets/color.png"]
    centre = ((size // 2) * size + size // 4) * 4
    assert color[centre + 3] == 255


def test_encoder_round_trips_and_rejects_wrong_sizes() -> None:
    pixels = bytes(range(256)) * 3  # 768 bytes: an 8x24 RGBA image
    assert decode_png(encode_rgba(8, 24, pixels)) == (8, 24, pixels)
    with pytest.raises(ValueError, match="expected"):
        encode_rgba(8, 8, pixels)
    with pytest.raises(ValueError, match="positive"):
        encode_rgba(0, 8, b"")
