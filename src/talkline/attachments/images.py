"""An image's width and height, read from its header bytes (nothing is decoded).

PNG (IHDR), GIF (the logical screen), WebP (VP8, VP8L, VP8X) and JPEG (the first SOFn
marker, walking the segments). None when the header is not where it should be.
"""

from __future__ import annotations

import struct

__all__ = ["image_size"]

# JPEG start-of-frame markers (baseline, progressive, ...); C4, C8 and CC are not frames.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                  0xCF})


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        if length < 2:
            return None
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def image_size(data: bytes, mime: str) -> tuple[int, int] | None:
    """(width, height) in pixels of an image of type `mime`, or None when unreadable."""
    try:
        if mime == "image/png" and len(data) >= 24 and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
        elif mime == "image/gif" and len(data) >= 10:
            w, h = struct.unpack("<HH", data[6:10])
        elif mime == "image/jpeg":
            found = _jpeg(data)
            if found is None:
                return None
            w, h = found
        elif mime == "image/webp":
            found = _webp(data)
            if found is None:
                return None
            w, h = found
        else:
            return None
    except struct.error:
        return None
    return (w, h) if w > 0 and h > 0 else None
