"""llama.cpp's server extras, at the server's root (not under /v1): `/tokenize` (a text's
token ids, no special tokens added) and `/apply-template` (the prompt the model's chat
template makes of some messages)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ServerError
from .connection import Connection

__all__ = ["apply_template", "tokenize"]


def tokenize(conn: Connection, text: str) -> list[int]:
    data = conn.json_object(conn.send("POST", "tokenize", root=True, json={"content": text}))
    tokens = data.get("tokens")
    if not isinstance(tokens, list):
        raise ServerError("/tokenize answered without a list of tokens")
    return [int(t) for t in tokens]


def apply_template(conn: Connection, messages: Iterable[Mapping[str, Any]]) -> str:
    body = {"messages": [dict(m) for m in messages]}
    data = conn.json_object(conn.send("POST", "apply-template", root=True, json=body))
    return str(data.get("prompt", ""))
