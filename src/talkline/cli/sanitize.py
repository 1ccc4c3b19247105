"""Make text from a server safe to show in a terminal (pure, no I/O).

Model output, error messages and model names can carry escape sequences that recolour,
move the cursor, set the window title, write the clipboard (OSC 52), plant hyperlinks
(OSC 8), ring the bell, overwrite earlier text with backspaces, or reorder text with bidi
overrides. None of that may reach a terminal raw: each such character is replaced by a
visible stand-in, so the user sees that it was there.
"""

from __future__ import annotations

import re

__all__ = ["sanitize"]

# Bidi embedding/override/isolate controls (Trojan Source), plus LRM/RLM/ALM marks are
# harmless and kept.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f\x80-\x9f" + _BIDI + "]"
)


def _visible(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code == 0x1B:
        return "\u241b"  # ␛
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␇ ␈ ␍ ...
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def sanitize(text: str, *, keep_tabs: bool = True) -> str:
    """Replace control characters and bidi overrides with visible stand-ins.

    Newlines (and tabs, unless `keep_tabs` is false) are kept; a lone CR is shown, since it
    can be used to overwrite a line already printed.
    """
    text = text.replace("\r\n", "\n")
    if keep_tabs:
        return _UNSAFE.sub(_visible, text)
    return _UNSAFE.sub(_visible, text).replace("\t", "\u2409")
