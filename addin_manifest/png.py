"""Just enough PNG to write the add-in's icons: 8-bit RGBA, no interlace, filter 0.

The icons are drawn in code (see :mod:`addin_manifest.icons`) so the repository carries no
binary of unknown origin and anyone can regenerate them; zlib and struct are all PNG needs.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE_RGBA = 6


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_rgba(width: int, height: int, pixels: bytes) -> bytes:
    """PNG bytes for ``pixels``: ``height`` rows of ``width`` RGBA quadruples, top row first."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    stride = width * 4
    if len(pixels) != stride * height:
        raise ValueError(f"expected {stride * height} bytes of RGBA, got {len(pixels)}")
    raw = b"".join(
        b"\x00" + pixels[row * stride : (row + 1) * stride] for row in range(height)
    )  # filter type 0 (None) on every scanline
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE_RGBA, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )
