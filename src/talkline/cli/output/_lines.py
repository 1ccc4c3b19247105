"""Markdown line grammar for the block splitter (pure): what a single line is (a fence,
a list marker, a rule, a table row...) under the CommonMark rules `_blocks` uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATX = re.compile(r" {0,3}#{1,6}(?:[ \t]|$)")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*$")
_HR = re.compile(r" {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_SETEXT = re.compile(r" {0,3}(?:=+|-+)[ \t]*$")
_QUOTE = re.compile(r" {0,3}>")
_QUOTE_PREFIX = re.compile(r" {0,3}> ?")
_BULLET = re.compile(r"( {0,3})([-+*])(?:([ \t]+)(.*))?$")
_ORDERED = re.compile(r"( {0,3})([0-9]{1,9})([.)])(?:([ \t]+)(.*))?$")
_DELIM_CELL = re.compile(r":?-+:?$")


@dataclass(frozen=True)
class _Marker:
    key: str  # "-", "+", "*" for bullets; "." or ")" for ordered lists
    number: int | None
    content_indent: int
    empty: bool
    content: str


def _expand(line: str) -> str:
    return line.expandtabs(4) if "\t" in line else line


def _blank(line: str) -> bool:
    return not line.strip()


def _indent(line: str) -> int:
    line = _expand(line)
    return len(line) - len(line.lstrip(" "))


def _marker(line: str) -> _Marker | None:
    line = _expand(line)
    m = _BULLET.match(line)
    number: int | None = None
    if m is not None:
        indent, key, spaces, content = m.group(1), m.group(2), m.group(3), m.group(4)
        width = len(indent) + 1
    else:
        m = _ORDERED.match(line)
        if m is None:
            return None
        indent, digits, key = m.group(1), m.group(2), m.group(3)
        spaces, content = m.group(4), m.group(5)
        number = int(digits)
        width = len(indent) + len(digits) + 1
    empty = not (content or "").strip()
    if empty or spaces is None or len(spaces) > 4:
        width += 1  # an empty item, or indented code right after the marker
    else:
        width += len(spaces)
    return _Marker(key, number, width, empty, content or "")


def _opens_fence(line: str) -> tuple[str, int] | None:
    m = _FENCE.match(_expand(line))
    if m is None:
        return None
    fence = m.group(1)
    if fence[0] == "`" and "`" in m.group(2):
        return None  # an inline code span, not a fence
    return fence[0], len(fence)


def _closes_fence(line: str, fence: tuple[str, int]) -> bool:
    m = _FENCE_CLOSE.match(_expand(line))
    return m is not None and m.group(1)[0] == fence[0] and len(m.group(1)) >= fence[1]


def _interrupts_paragraph(line: str) -> bool:
    """A line that starts a new block even right after a paragraph line."""
    if _indent(line) >= 4:
        return False
    if _opens_fence(line) or _ATX.match(line) or _HR.match(line) or _QUOTE.match(line):
        return True
    mk = _marker(line)
    return mk is not None and not mk.empty and (mk.number is None or mk.number == 1)


def _cells(line: str) -> list[str]:
    """A table row's cells (markdown-it's escaped split, outer pipes dropped)."""
    cells: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in line.strip():
        if ch == "|" and not escaped:
            cells.append("".join(current))
            current = []
        else:
            current.append(ch)
        escaped = ch == "\\"
    cells.append("".join(current))
    if cells and not cells[0].strip():
        cells.pop(0)
    if cells and not cells[-1].strip():
        cells.pop()
    return cells


def _header_columns(line: str) -> int:
    if _indent(line) >= 4 or "|" not in line:
        return 0
    return len(_cells(line))


def _delimiter_columns(line: str) -> int:
    """The column count of a table delimiter row (`| --- | :-: |`), 0 if it is not one."""
    if _indent(line) >= 4:
        return 0
    text = line.strip()
    if len(text) < 2 or text[0] not in "|-:" or (text[1] not in "|-:" and not text[1].isspace()):
        return 0
    if text[0] == "-" and text[1].isspace():
        return 0  # a list item
    if text.strip("|-: \t"):
        return 0
    parts = text.split("|")
    count = 0
    for i, part in enumerate(parts):
        part = part.strip()
        if not part:
            if i in (0, len(parts) - 1):
                continue
            return 0
        if not _DELIM_CELL.match(part):
            return 0
        count += 1
    return count
