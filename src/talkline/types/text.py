"""Text that can be stored and shown: lone surrogates (valid in JSON as `"\\ud800"`, and
what Python makes of bytes that are not UTF-8) replaced by U+FFFD, the same way wherever
text comes in (a server's answer, an imported file) or is stored."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["clean_text", "clean_value"]

_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD (so it can be encoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def clean_value(value: Any) -> Any:
    """A JSON value with every string (keys included) cleaned by `clean_text`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(v) for v in value]
    return value
