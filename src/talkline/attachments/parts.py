"""Attachments as content parts: what is sent, what is stored, what is shown.

Three forms of one attachment:

- the **wire part**, sent to the API: `image_url` (a `data:` URL, or the URL itself),
  `file` (`file_data` as a `data:` URL), `input_audio` (base64 `data`, `format`), or a
  `text` part headed by the file name;
- the **stored part**, kept in a message's `parts`: the bytes replaced by their SHA-256
  (`{"type": "image_url", "blob": "1a2b…", "name": "cat.png", "mime": "image/png",
  "size": 34567}`), the bytes kept once in the store's `blobs`;
- the **line** `history show` prints: `[image: cat.png, image/png, 34 KB, sha256 1a2b3c4d…]`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Attachment", "Blob", "describe", "expand_part", "format_size", "format_sizes",
           "is_stored", "kinds_of", "sha256_of", "to_stored", "wire_kind"]

_AUDIO_FORMATS = {"audio/wav": "wav", "audio/mpeg": "mp3"}
_AUDIO_MIMES = {v: k for k, v in _AUDIO_FORMATS.items()}
_KIND_OF_TYPE = {"image_url": "image", "file": "file", "input_audio": "audio"}


@dataclass(frozen=True)
class Blob:
    """Bytes kept once in the store, under their SHA-256 (hex)."""

    sha256: str
    mime: str
    data: bytes


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def format_size(n: int) -> str:
    """`512 bytes`, `34 KB`, `20.0 MB` (KB and MB of 1024)."""
    if n < 1024:
        return f"{n} byte{'s' if n != 1 else ''}"
    if n < 1024 * 1024:
        return f"{round(n / 1024)} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def format_sizes(n: int, limit: int) -> tuple[str, str]:
    """`n` and `limit` as `format_size` writes them, or in bytes when rounding would make
    them look the same (`1.0 MB over the 1.0 MB limit` says nothing)."""
    shown, cap = format_size(n), format_size(limit)
    if shown == cap and n != limit:
        return f"{n:,} bytes", f"{limit:,} bytes"
    return shown, cap


@dataclass(frozen=True)
class Attachment:
    """One file, URL or stdin to send with a message. `kind`: image, file, audio or text."""

    name: str
    mime: str
    kind: str
    data: bytes = b""
    url: str | None = None  # an image given by URL: sent as the URL, never fetched
    detail: str | None = None  # an image's `detail` (None: the server's default, auto)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return sha256_of(self.data)

    def _data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def wire_part(self) -> dict[str, Any]:
        """The content part the API receives."""
        if self.kind == "text":
            text = self.data.decode("utf-8-sig")
            return {"type": "text", "text": f"--- {self.name} ---\n{text}"}
        if self.kind == "image":
            image: dict[str, Any] = {"url": self.url or self._data_url()}
            if self.detail:
                image["detail"] = self.detail
            return {"type": "image_url", "image_url": image}
        if self.kind == "file":
            return {"type": "file", "file": {"filename": self.name,
                                             "file_data": self._data_url()}}
        return {"type": "input_audio", "input_audio": {
            "data": base64.b64encode(self.data).decode("ascii"),
            "format": _AUDIO_FORMATS[self.mime]}}

    def stored_part(self) -> tuple[dict[str, Any], Blob | None]:
        """The part a message's `parts` keeps, and the blob its bytes go to (None for
        text, which is stored as the text part, and for a URL, stored as the URL)."""
        if self.kind == "text" or self.url is not None:
            return self.wire_part(), None
        part = {"type": _type_of(self.kind), "blob": self.sha256, "name": self.name,
                "mime": self.mime, "size": self.size}
        if self.detail:
            part["detail"] = self.detail
        return part, Blob(self.sha256, self.mime, self.data)


def _type_of(kind: str) -> str:
    return {"image": "image_url", "file": "file", "audio": "input_audio"}[kind]


def is_stored(part: Mapping[str, Any]) -> bool:
    return isinstance(part.get("blob"), str)


def expand_part(part: Mapping[str, Any], data: bytes) -> dict[str, Any]:
    """The wire part of a stored part whose blob holds `data`."""
    mime = str(part.get("mime") or "application/octet-stream")
    kind = _KIND_OF_TYPE.get(str(part.get("type")), "file")
    detail = part.get("detail")
    att = Attachment(str(part.get("name") or "attachment"), mime, kind, data,
                     detail=detail if isinstance(detail, str) else None)
    return att.wire_part()


def _data_url_bytes(url: str) -> tuple[str, bytes] | None:
    """(mime, bytes) of a base64 `data:` URL, None for anything else."""
    if not url.startswith("data:") or ";base64," not in url[:200]:
        return None
    head, _, payload = url.partition(",")
    try:
        return head[5:].split(";", 1)[0] or "application/octet-stream", base64.b64decode(
            payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def _stored_from_wire(part: Mapping[str, Any]) -> tuple[dict[str, Any], Blob] | None:
    kind = part.get("type")
    name, mime, data, extra = "attachment", "", b"", {}
    if kind == "image_url":
        image = part.get("image_url")
        found = _data_url_bytes(str(image.get("url"))) if isinstance(image, Mapping) else None
        if found is None:
            return None
        (mime, data), name = found, str(part.get("name") or "image")
        if isinstance(image, Mapping) and isinstance(image.get("detail"), str):
            extra["detail"] = image["detail"]
    elif kind == "file":
        file = part.get("file")
        found = (_data_url_bytes(str(file.get("file_data")))
                 if isinstance(file, Mapping) else None)
        if found is None or not isinstance(file, Mapping):
            return None
        (mime, data), name = found, str(file.get("filename") or "file")
    elif kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, Mapping):
            return None
        try:
            data = base64.b64decode(str(audio.get("data")), validate=True)
        except (binascii.Error, ValueError):
            return None
        fmt = str(audio.get("format"))
        mime, name = _AUDIO_MIMES.get(fmt, f"audio/{fmt}"), f"audio.{fmt}"
    else:
        return None
    sha = sha256_of(data)
    stored = {"type": kind, "blob": sha, "name": name, "mime": mime, "size": len(data),
              **extra}
    return stored, Blob(sha, mime, data)


def to_stored(parts: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[Blob]]:
    """Parts as a message's `parts` keeps them: every embedded file (a `data:` URL, audio
    data) replaced by its blob reference; the blobs to keep. Other parts stay as they are."""
    out: list[dict[str, Any]] = []
    blobs: list[Blob] = []
    for part in parts:
        found = None if is_stored(part) else _stored_from_wire(part)
        if found is None:
            out.append(dict(part))
            continue
        out.append(found[0])
        blobs.append(found[1])
    return out, blobs


def wire_kind(part: Mapping[str, Any]) -> str | None:
    """image, file or audio for a part that is one (wire or stored), else None."""
    return _KIND_OF_TYPE.get(str(part.get("type")))


def kinds_of(content: object) -> set[str]:
    """The input kinds beyond text a message's content uses."""
    if not isinstance(content, list):
        return set()
    return {k for p in content if isinstance(p, Mapping) and (k := wire_kind(p))}


_LABELS = {"image_url": "image", "file": "file", "input_audio": "audio"}


def describe(part: Mapping[str, Any]) -> str | None:
    """`[image: cat.png, image/png, 34 KB, sha256 1a2b3c4d…]` for an attachment part
    (stored, or a URL image), None for a text part."""
    label = _LABELS.get(str(part.get("type")))
    if label is None:
        return None
    if is_stored(part):
        size = part.get("size")
        bits = [str(part.get("name") or "attachment"), str(part.get("mime") or "?")]
        if isinstance(size, int):
            bits.append(format_size(size))
        bits.append(f"sha256 {str(part['blob'])[:8]}…")
        return f"[{label}: {', '.join(bits)}]"
    image = part.get("image_url")
    if isinstance(image, Mapping):
        url = str(image.get("url") or "")
        if not url.startswith("data:"):
            return f"[{label}: {url}]"
    return f"[{label}: embedded]"
