"""JSON that cannot crash its reader: nesting deeper than a bound is refused before the
text is parsed (Python's parser recurses, and `[[[...` 100,000 deep ends in a
RecursionError), with a `ValueError` like any other bad JSON."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "TooDeep", "depth", "loads"]

# Far more than any chat answer, export or batch line needs; far below the recursion limit.
MAX_DEPTH = 200
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.S)


class TooDeep(ValueError):
    """The JSON nests deeper than allowed."""


def depth(text: str, limit: int = MAX_DEPTH) -> int:
    """The deepest nesting of arrays and objects in `text` (strings skipped), counted in
    one linear pass; stops early with TooDeep past `limit`."""
    level = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            level += 1
            if level > deepest:
                deepest = level
                if deepest > limit:
                    raise TooDeep(f"the JSON nests more than {limit} levels deep")
        elif token in "]}":
            level -= 1
    return deepest


def loads(data: str | bytes, limit: int = MAX_DEPTH) -> Any:
    """`json.loads`, refusing nesting deeper than `limit` (TooDeep, a ValueError) and
    text that is not UTF-8 (a ValueError)."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    depth(text, limit)
    return json.loads(text)
