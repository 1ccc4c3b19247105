"""Turning what a user types into an FTS5 query that cannot be a syntax error."""

from __future__ import annotations

import re

__all__ = ["fts_query"]

# A "quoted phrase" (closed quotes only), or a run of non-space characters.
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


def fts_query(text: str) -> str:
    """Every word or "quoted phrase" as an FTS5 string, all of them required (AND).

    Nothing the user types is read as FTS5 syntax, so `foo-bar`, `c++`, `"unbalanced`,
    `AND`, `NEAR(` all search for words. A trailing `*` keeps its prefix meaning
    (`resum*` finds "resume" and "resumption"). Words with no letter or digit are dropped,
    as the tokenizer would drop them anyway. Returns "" when nothing is left to search.
    """
    terms: list[str] = []
    text = text.replace("\x00", " ")  # FTS5 reads a NUL as the end of the query
    for match in _TOKEN.finditer(text):
        phrase, word = match.group(1), match.group(2)
        raw = phrase if phrase is not None else word
        prefix = phrase is None and raw.endswith("*")
        raw = raw.rstrip("*") if prefix else raw
        if not any(ch.isalnum() for ch in raw):
            continue
        terms.append('"' + raw.replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(terms)
