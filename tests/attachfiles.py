"""Tiny files of every kind `-a` sends, built in code (nothing is read from outside)."""

from __future__ import annotations

import io
import struct
import wave
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG (every pixel black)."""
    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def jpeg(width: int = 5, height: int = 4) -> bytes:
    """A JPEG's markers: SOI, a JFIF APP0, a quantisation table, a baseline SOF0 with the
    size, then EOI (enough for the sniffer and the size reader)."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\x00" + bytes(range(1, 65))
    sof = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    seg = b"".join(b"\xff" + m + struct.pack(">H", len(d) + 2) + d
                   for m, d in ((b"\xe0", app0), (b"\xdb", dqt), (b"\xc0", sof)))
    return b"\xff\xd8" + seg + b"\xff\xd9"


def gif() -> bytes:
    """A 1x1 GIF89a."""
    return (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00"
            b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def webp(width: int = 7, height: int = 6) -> bytes:
    """A lossless (VP8L) WebP header with its size."""
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + bits.to_bytes(4, "little") + b"\x00\x00\x00"
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def pdf(pages: int = 1) -> bytes:
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objs = [b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj",
            f"2 0 obj<</Type/Pages/Kids[{kids}]/Count {pages}>>endobj".encode()]
    objs += [f"{3 + i} 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 3 3]>>endobj".encode()
             for i in range(pages)]
    return b"%PDF-1.4\n" + b"\n".join(objs) + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def wav(seconds: float = 0.1, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(rate * seconds))
    return buf.getvalue()


def mp3(frames: int = 2) -> bytes:
    """MPEG-1 layer III frames, 128 kbit/s at 44.1 kHz (417 bytes each), silent."""
    header = b"\xff\xfb\x90\x64"
    return (header + b"\x00" * 413) * frames


def zip_file() -> bytes:
    return b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x01\x02\x03\x04" * 8
