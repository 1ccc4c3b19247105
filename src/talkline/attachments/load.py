"""Reading what `-a/--attach` names: a file, an http(s) URL (never fetched) or `-`.

The type comes from the bytes (`sniff`); each kind has a size limit, and one message's
attachments a total. Every refusal is an `AttachmentError` that names the file and what
to do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from ..errors import ConfigError
from .parts import Attachment, format_sizes
from .sniff import detect

__all__ = ["LIMITS", "SUPPORTED", "TOTAL_LIMIT", "AttachmentError", "check_total",
           "load_attachment"]

MB = 1024 * 1024
LIMITS: dict[str, int] = {"image": 20 * MB, "file": 32 * MB, "audio": 25 * MB, "text": 1 * MB}
TOTAL_LIMIT = 50 * MB  # all the attachments of one message
_WHAT = {"image": "an image", "file": "a PDF", "audio": "an audio file", "text": "a text file"}
SUPPORTED = ("png, jpeg, gif or webp images, PDF files, wav or mp3 audio, "
             "or UTF-8 text files")
_NOT_FETCHED = (".pdf", ".wav", ".mp3", ".txt", ".md", ".csv", ".json", ".html", ".htm",
                ".xml", ".zip", ".doc", ".docx")


class AttachmentError(ConfigError):
    """An attachment that cannot be sent (missing, unreadable, too big, of a wrong type)."""


def _from_url(spec: str, detail: str | None) -> Attachment:
    path = urlsplit(spec).path.lower()
    if path.endswith(_NOT_FETCHED):
        raise AttachmentError(
            f"{spec} is not an image URL: talkline sends only images by URL and never "
            "fetches one. Download it first (e.g. curl -LO URL) and attach the file.")
    return Attachment(name=spec, mime="", kind="image", url=spec, detail=detail)


def _read(spec: str, stdin: BinaryIO | None) -> tuple[str, bytes]:
    cap = max(LIMITS.values()) + 1  # a flood is cut here, then refused by its size
    if spec == "-":
        if stdin is None:
            raise AttachmentError("-a - reads standard input, but there is none: pipe the "
                                  "file in (e.g. talkline -a - \"describe it\" < cat.png).")
        return "stdin", stdin.read(cap)
    path = Path(os.path.expanduser(spec))
    try:
        with path.open("rb") as fh:
            return path.name, fh.read(cap)
    except FileNotFoundError:
        raise AttachmentError(f"Cannot attach {spec}: no such file. Check the path "
                              "(a URL must start with http:// or https://).") from None
    except IsADirectoryError:
        raise AttachmentError(f"Cannot attach {spec}: it is a folder. Attach the files in "
                              f"it one by one (-a {spec.rstrip('/')}/FILE).") from None
    except OSError as exc:
        raise AttachmentError(f"Cannot attach {spec}: {exc.strerror or exc}. Check that "
                              "the file is readable.") from None


def load_attachment(spec: str, *, stdin: BinaryIO | None = None,
                    detail: str | None = None) -> Attachment:
    """The attachment `spec` names: a path, an http(s) URL (an image, sent as the URL),
    or `-` (the bytes of `stdin`)."""
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme in ("http", "https"):
        return _from_url(spec, detail)
    if scheme:
        raise AttachmentError(f"Cannot attach {spec}: only http:// and https:// URLs "
                              "are sent; for anything else, save the file and attach it.")
    name, data = _read(spec, stdin)
    shown = "standard input" if spec == "-" else spec
    if not data:
        raise AttachmentError(f"Cannot attach {shown}: it is empty.")
    found = detect(data)
    if not found.kind:
        raise AttachmentError(
            f"Cannot attach {shown}: it is {_article(found.label)}, which talkline does "
            f"not send. Attach {SUPPORTED}.")
    limit = LIMITS[found.kind]
    if len(data) > limit:
        size, cap = format_sizes(len(data), limit)
        raise AttachmentError(
            f"Cannot attach {shown}: it is {size}"
            f"{' or more' if len(data) > max(LIMITS.values()) else ''}, over the "
            f"{cap} limit for {_WHAT[found.kind]}. Make it smaller "
            "(or send a part of it) and attach it again.")
    if found.kind == "text" and spec == "-":
        name = "stdin.txt"
    return Attachment(name=name, mime=found.mime, kind=found.kind, data=data,
                      detail=detail if found.kind == "image" else None)


def check_total(attachments: Sequence[Attachment]) -> None:
    """Refuse one message's attachments when together they are over TOTAL_LIMIT."""
    total = sum(a.size for a in attachments)
    if total > TOTAL_LIMIT:
        size, cap = format_sizes(total, TOTAL_LIMIT)
        raise AttachmentError(
            f"The {len(attachments)} attachments add up to {size}, over the "
            f"{cap} limit for one message. Send them over several "
            "messages.")


def _article(label: str) -> str:
    if label.startswith(("binary", "MP4")):
        return label
    return ("an " if label[0].lower() in "aeiou" else "a ") + label
