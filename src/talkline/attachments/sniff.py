"""What a file is, from its first bytes (its name is never trusted).

A table of signatures for the few formats talkline sends, and for some common ones it
refuses by name. No library: the formats are eight, each a fixed prefix (MP3 also a frame
header), and `filetype`/`puremagic` would add a dependency for these few lines.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "Detected", "detect", "is_text"]

KINDS: tuple[str, ...] = ("image", "file", "audio", "text")  # what a model may take in


@dataclass(frozen=True)
class Detected:
    """`kind` is one of KINDS, or "" for a format talkline does not send."""

    mime: str
    kind: str
    label: str  # what to call it in a message: "PNG image", "ZIP archive"


PNG = Detected("image/png", "image", "PNG image")
JPEG = Detected("image/jpeg", "image", "JPEG image")
GIF = Detected("image/gif", "image", "GIF image")
WEBP = Detected("image/webp", "image", "WebP image")
PDF = Detected("application/pdf", "file", "PDF document")
WAV = Detected("audio/wav", "audio", "WAV audio")
MP3 = Detected("audio/mpeg", "audio", "MP3 audio")
TEXT = Detected("text/plain", "text", "text")

# Formats refused by name, so the message can say what the file is.
_OTHERS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"BM", "BMP image"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
    (b"OggS", "Ogg audio"),
    (b"fLaC", "FLAC audio"),
    (b"\x00\x00\x01\x00", "ICO image"),
    (b"SQLite format 3\x00", "SQLite database"),
)


def _mp3_frame(data: bytes) -> bool:
    """An MPEG audio layer III frame header: 11 sync bits, a valid version, layer III."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    version, layer = (data[1] >> 3) & 3, (data[1] >> 1) & 3
    bitrate, rate = data[2] >> 4, (data[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3


def is_text(data: bytes) -> bool:
    """Valid UTF-8 with no NUL byte (a BOM is allowed)."""
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return True


def detect(data: bytes) -> Detected:
    """The format of `data`; kind "" when it is not one talkline sends."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"ID3") or _mp3_frame(head):
        return MP3
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1")
        label = "HEIC image" if brand in ("heic", "heix", "mif1") else f"MP4/QuickTime ({brand})"
        return Detected("application/octet-stream", "", label)
    if is_text(data):  # before the short signatures: a note may start with "BM"
        return TEXT
    for signature, label in _OTHERS:
        if head.startswith(signature):
            return Detected("application/octet-stream", "", label)
    return Detected("application/octet-stream", "", "binary data of an unknown type")
