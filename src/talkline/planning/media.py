"""Tokens of the parts that are not text, estimated before sending: images by the model
family's published rule (the catalog's `[image_rules]`), PDFs and audio roughly.

- images: the rule named by the model's `image_rule` (tiles-85-170 when it names none);
  the size is read from the image's header (`attachments.image_size`); `detail: auto`
  (the default) is estimated as `high`, an image by URL (size unknown) as 1024x1024;
- PDFs: 1,500 tokens a page (a page's text plus the picture of the page the model is
  given), pages counted from the `/Type /Page` objects, at least one;
- audio: 10 tokens a second (wav: from its header; mp3: its size at 128 kbit/s).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from typing import Any

from ..attachments import image_size

__all__ = ["DEFAULT_IMAGE_RULE", "audio_tokens", "image_tokens", "part_tokens",
           "pdf_tokens"]

DEFAULT_IMAGE_RULE: dict[str, Any] = {"method": "tiles", "base": 85, "tile": 170}
URL_IMAGE_SIZE = (1024, 1024)
PDF_TOKENS_PER_PAGE = 1500
AUDIO_TOKENS_PER_SECOND = 10
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def _tiles(width: int, height: int, rule: Mapping[str, Any], detail: str) -> int:
    base, tile = int(rule.get("base", 85)), int(rule.get("tile", 170))
    if detail == "low":
        return base
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    return base + tile * math.ceil(w / 512) * math.ceil(h / 512)


def _patches(width: int, height: int, rule: Mapping[str, Any]) -> int:
    limit = 1536
    w, h = float(width), float(height)
    if math.ceil(w / 32) * math.ceil(h / 32) > limit:
        shrink = math.sqrt(32 * 32 * limit / (w * h))
        w, h = w * shrink, h * shrink
        fit = math.floor(w / 32) / (w / 32)  # whole patches across
        w, h = w * fit, h * fit
    patches = min(limit, math.ceil(w / 32) * math.ceil(h / 32))
    return math.ceil(patches * float(rule.get("multiplier", 1.0)))


def image_tokens(width: int, height: int, rule: Mapping[str, Any] | None = None,
                 detail: str = "auto") -> int:
    """An image's tokens by `rule` (a `[image_rules]` table); auto counts as high."""
    rule = rule or DEFAULT_IMAGE_RULE
    if rule.get("method") == "patches":
        return _patches(width, height, rule)
    return _tiles(width, height, rule, detail)


def pdf_tokens(data: bytes) -> int:
    return PDF_TOKENS_PER_PAGE * max(1, len(_PAGE.findall(data)))


def audio_tokens(data: bytes, fmt: str) -> int:
    seconds = len(data) / 16000  # mp3 at 128 kbit/s
    if fmt == "wav" and len(data) >= 44:
        byte_rate = int.from_bytes(data[28:32], "little")
        if byte_rate > 0:
            seconds = max(0, len(data) - 44) / byte_rate
    return max(1, math.ceil(seconds * AUDIO_TOKENS_PER_SECOND))


def _data_url(url: str) -> tuple[str, bytes] | None:
    if not url.startswith("data:"):
        return None
    head, _, payload = url.partition(",")
    try:
        return head[5:].split(";", 1)[0], base64.b64decode(payload)
    except (binascii.Error, ValueError):
        return None


def part_tokens(part: Mapping[str, Any], rule: Mapping[str, Any] | None) -> int:
    """The estimated tokens of one image, file or audio part (0 for anything else)."""
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url")
        image = image if isinstance(image, Mapping) else {}
        found = _data_url(str(image.get("url") or ""))
        size = image_size(found[1], found[0]) if found else None
        w, h = size or URL_IMAGE_SIZE
        return image_tokens(w, h, rule, str(image.get("detail") or "auto"))
    if kind == "file":
        file = part.get("file")
        found = _data_url(str(file.get("file_data") or "")) if isinstance(file, Mapping) \
            else None
        return pdf_tokens(found[1]) if found else PDF_TOKENS_PER_PAGE
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, Mapping):
            return 0
        try:
            data = base64.b64decode(str(audio.get("data") or ""))
        except (binascii.Error, ValueError):
            return 0
        return audio_tokens(data, str(audio.get("format") or ""))
    return 0
