"""Make text from a server safe to show in a terminal (pure, no I/O).

Model output, error messages and model names can carry escape sequences that recolour,
move the cursor, set the window title, write the clipboard (OSC 52), plant hyperlinks
(OSC 8), ring the bell, overwrite earlier text with backspaces, or reorder text with bidi
overrides. None of that may reach a terminal raw: each such character is replaced by a
visible stand-in, so the user sees that it was there. An escape sequence therefore reads as
one visible token: `\\x1b[31m` shows as `␛[31m`, an OSC 52 clipboard write as
`␛]52;c;SGk=␇`, a C1 CSI as `<U+009B>31m`.

- `sanitize(text)`: one complete piece of text.
- `StreamSanitizer`: the same for a stream of pieces (a CR LF split across two pieces is
  still one line break).
- `sanitize_markdown(text)`: for text about to be parsed as markdown, which also decodes
  numeric character references (`&#x202E;` would become a real bidi override).
- `UNSAFE`: the pattern of characters that must not reach a terminal raw.
"""

from __future__ import annotations

import re

__all__ = ["UNSAFE", "StreamSanitizer", "is_safe", "sanitize", "sanitize_markdown"]

# C0 controls except TAB and LF, DEL, C1 controls, and the bidi embedding / override /
# isolate controls (Trojan Source). LRM/RLM/ALM marks are harmless and kept.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f" + _BIDI + "]")

# Numeric character references, which markdown decodes into the character they name.
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));")


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


def is_safe(text: str) -> bool:
    """True when `text` holds nothing that `sanitize` would replace."""
    return UNSAFE.search(text) is None


def sanitize(text: str, *, keep_tabs: bool = True) -> str:
    """Replace control characters and bidi overrides with visible stand-ins.

    Newlines (and tabs, unless `keep_tabs` is false) are kept; CR LF becomes LF; a lone CR
    is shown, since it can be used to overwrite a line already printed.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if UNSAFE.search(text) is not None:
        text = UNSAFE.sub(_visible, text)
    if not keep_tabs:
        text = text.replace("\t", "\u2409")
    return text


def _defuse_ref(match: re.Match[str]) -> str:
    hex_digits, decimal = match.groups()
    code = int(hex_digits, 16) if hex_digits else int(decimal)
    if code > 0x10FFFF or UNSAFE.match(chr(code)) is None:
        return match.group(0)
    return "&amp;" + match.group(0)[1:]  # shown as written, never decoded


def sanitize_markdown(text: str) -> str:
    """`sanitize`, and keep numeric references to unsafe characters from being decoded."""
    text = sanitize(text)
    if "&#" in text:
        text = _CHAR_REF.sub(_defuse_ref, text)
    return text


class StreamSanitizer:
    """`sanitize` for a text that arrives in pieces: `feed` each piece, then `flush`.

    A CR at the end of a piece is held back until the next piece shows whether it starts
    a CR LF line break.
    """

    def __init__(self) -> None:
        self._cr = False

    def feed(self, text: str) -> str:
        if self._cr:
            text = "\r" + text
            self._cr = False
        if text.endswith("\r"):
            text = text[:-1]
            self._cr = True
        return sanitize(text)

    def flush(self) -> str:
        if self._cr:
            self._cr = False
            return sanitize("\r")
        return ""
