"""A function's docstring as a tool description and one line per parameter (pure).

Google style (`Args:` with `name: text` or `name (type): text` lines, continuation lines
indented deeper) and Sphinx style (`:param name: text`, `:param type name: text`).
"""

from __future__ import annotations

import inspect
import re

__all__ = ["parse_docstring"]

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Returns?|Raises|Yields|Examples?|"
                      r"Notes?):\s*$")
_GOOGLE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """`(description, {parameter: description})`; the description is the text before the
    first section or `:param` line, paragraphs joined by a blank line."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    i = 0
    while i < len(lines) and not (_SECTION.match(lines[i].strip())
                                  or lines[i].lstrip().startswith(":")):
        summary.append(lines[i].rstrip())
        i += 1
    section = ""
    current: str | None = None
    for line in lines[i:]:
        stripped = line.strip()
        head = _SECTION.match(stripped)
        if head and not line.startswith(" "):
            section, current = head.group(1), None
            continue
        sphinx = _SPHINX.match(stripped)
        if sphinx:
            current = sphinx.group(1)
            params[current] = sphinx.group(2).strip()
            continue
        if stripped.startswith(":"):
            current = None
            continue
        if section in ("Args", "Arguments", "Parameters", "Params"):
            google = _GOOGLE.match(stripped)
            indent = len(line) - len(line.lstrip())
            if google and (current is None or indent <= _indent_of_first(lines, i)):
                current = google.group(1).lstrip("*")
                params[current] = google.group(2).strip()
                continue
        if current is not None and stripped:
            params[current] = f"{params[current]} {stripped}".strip()
    return "\n".join(summary).strip(), params


def _indent_of_first(lines: list[str], start: int) -> int:
    """The indent of the first parameter line after the summary (Google style)."""
    for line in lines[start:]:
        stripped = line.strip()
        if stripped and not _SECTION.match(stripped):
            return len(line) - len(line.lstrip())
    return 0
