"""The SQL shared by the store's methods: each helper runs inside the caller's transaction."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from ..types import ROLES
from ..types.text import clean_text
from ._errors import ConversationNotFound, MessageNotFound, StoreError
from ._ids import new_id
from ._models import (
    CONVERSATION_COLUMNS,
    MESSAGE_COLUMNS,
    STATUSES,
    Conversation,
    StoredMessage,
    conversation_from_row,
    dump_items,
    dump_object,
    dump_tool_calls,
    message_from_row,
    split_content,
)

# Fields a caller may set on a message; the rest (id, tree links, role, created) are the
# store's.
UPDATABLE_FIELDS = frozenset(
    {
        "content", "status", "name", "tool_calls", "tool_call_id", "model",
        "requested_model", "params", "finish_reason", "error", "prompt_tokens",
        "completion_tokens", "cached_tokens", "reasoning_tokens", "cost", "cost_estimated",
        "latency", "ttft", "request_id", "batch", "reasoning_items", "response_id",
        "reasoning",
    }
)  # fmt: skip
APPEND_FIELDS = UPDATABLE_FIELDS - {"content", "status"}
IMPORT_FIELDS = (UPDATABLE_FIELDS | {"created"}) - {"role"}
CONVERSATION_FIELDS = frozenset({"title", "model", "system", "params", "client"})
COUNTERS = ("prompt_tokens", "completion_tokens", "cost")

M_COLUMNS = ", ".join("m." + c for c in MESSAGE_COLUMNS.split(", "))
# The active path, from a message up to the root. Parents are always older than their
# children, so the walk ends.
PATH = """WITH RECURSIVE path(id) AS (
    SELECT ?
    UNION ALL
    SELECT m.parent_id FROM messages AS m JOIN path ON m.id = path.id
    WHERE m.parent_id IS NOT NULL
) """


def check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")


def encode(fields: Mapping[str, Any], allowed: frozenset[str], caller: str) -> dict[str, Any]:
    """Column values for message fields, JSON and booleans encoded."""
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"{caller}() got unknown message field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "content":
            out["content"], out["parts"] = split_content(value)
        elif name == "params":
            out[name] = dump_object(value)
        elif name == "tool_calls":
            out[name] = dump_tool_calls(value)
        elif name == "reasoning_items":
            out[name] = dump_items(value)
        elif name in ("cost_estimated", "batch"):
            out[name] = int(bool(value))
        elif name == "status" and value not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {value!r}")
        else:
            out[name] = value
    # Lone surrogates (a server's `"\ud800"`, bytes that were not UTF-8) cannot be stored
    # as UTF-8: they are replaced, as the wire replaces them in what it shows.
    return {k: clean_text(v) if isinstance(v, str) else v for k, v in out.items()}


def amounts(columns: Mapping[str, Any]) -> list[Any]:
    return [columns.get(name) or 0 for name in COUNTERS]


def time_range(since: float | None, until: float | None) -> tuple[str, list[float]]:
    """An SQL condition (to append after WHERE ...) for created in [since, until)."""
    where, args = "", []
    if since is not None:
        where += " AND created >= ?"
        args.append(since)
    if until is not None:
        where += " AND created < ?"
        args.append(until)
    return where, args


def _clean(text: str | None) -> str | None:
    return clean_text(text) if text else None


def insert_conversation(
    conn: sqlite3.Connection,
    model: str | None,
    system: str | None,
    params: Mapping[str, Any] | None,
    title: str | None,
    client: str | None = None,
) -> str:
    now = time.time()
    for _ in range(5):
        cid = new_id(now)
        try:
            conn.execute(
                "INSERT INTO conversations (id, title, created, updated, model, system, params, "
                "client) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (cid, _clean(title.strip() if title else None), now, now, _clean(model),
                 _clean(system), _clean(dump_object(params)), client),
            )
            return cid
        except sqlite3.IntegrityError:
            continue  # an id minted by another process in the same millisecond: draw again
    raise StoreError("Could not create a unique conversation id.")


def insert_message(
    conn: sqlite3.Connection,
    conversation_id: str,
    parent_id: int | None,
    position: int,
    role: str,
    columns: Mapping[str, Any],
    created: float,
) -> int:
    names = ["conversation_id", "parent_id", "position", "role", "created", *columns]
    cursor = conn.execute(
        f"INSERT INTO messages ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        (conversation_id, parent_id, position, role, created, *columns.values()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def conversation_row(conn: sqlite3.Connection, conversation_id: str, columns: str) -> Any:
    row = conn.execute(
        f"SELECT {columns} FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    if row is None:
        raise ConversationNotFound(f"No conversation has the id {conversation_id!r}.")
    return row


def load_conversation(conn: sqlite3.Connection, conversation_id: str) -> Conversation:
    return conversation_from_row(conversation_row(conn, conversation_id, CONVERSATION_COLUMNS))


def load_message(conn: sqlite3.Connection, message_id: int) -> StoredMessage:
    row = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    if row is None:
        raise MessageNotFound(f"No message has the id {message_id}.")
    return message_from_row(row)


def message_position(conn: sqlite3.Connection, conversation_id: str, message_id: int) -> int:
    """The message's depth; MessageNotFound unless it belongs to the conversation."""
    row = conn.execute(
        "SELECT position FROM messages WHERE id = ? AND conversation_id = ?",
        (message_id, conversation_id),
    ).fetchone()
    if row is None:
        raise MessageNotFound(f"Message {message_id} is not in the conversation {conversation_id}.")
    return int(row[0])


def count_turns(conn: sqlite3.Connection, head: int) -> int:
    return int(
        conn.execute(
            PATH + "SELECT count(*) FROM path JOIN messages AS m ON m.id = path.id "
            "WHERE m.role = 'user'",
            (head,),
        ).fetchone()[0]
    )
