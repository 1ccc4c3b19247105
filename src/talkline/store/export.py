"""Conversations out and in: Markdown, our JSON, and the OpenAI `messages` array (pure)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..types import ROLES

if TYPE_CHECKING:
    from . import Conversation, StoredMessage

__all__ = ["FORMATS", "parse_import", "to_json", "to_markdown", "to_openai"]

FORMATS = ("md", "json", "openai")


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def to_openai(conv: Conversation, messages: Sequence[StoredMessage]) -> list[dict[str, Any]]:
    """A `messages` array the API accepts as is: the system prompt first, then every
    complete turn of the active branch (replies that did not complete are left out)."""
    out: list[dict[str, Any]] = []
    if conv.system:
        out.append({"role": "system", "content": conv.system})
    for m in messages:
        if m.role == "assistant" and m.status != "complete":
            continue
        out.append(m.to_message().to_dict())
    return out


def to_json(conv: Conversation, messages: Sequence[StoredMessage]) -> dict[str, Any]:
    """Everything we know, for `history import` and for other tools."""
    return {
        "talkline_export": 1,
        "conversation": conv.to_dict(),
        "messages": [m.to_dict() for m in messages],
    }


def to_markdown(conv: Conversation, messages: Sequence[StoredMessage]) -> str:
    lines = [f"# {conv.title or 'Conversation'}", ""]
    meta = f"`{conv.id}` · {_when(conv.created)}"
    if conv.model:
        meta += f" · {conv.model}"
    lines += [meta, ""]
    if conv.system:
        lines += ["## System", "", conv.system, ""]
    for m in messages:
        heading = {"user": "User", "assistant": "Assistant", "tool": "Tool",
                   "system": "System", "developer": "Developer"}.get(m.role, m.role)
        if m.role == "assistant" and m.model:
            heading += f" ({m.model})"
        if m.status != "complete":
            heading += f" [{m.status}]"
        lines += [f"## {heading}", ""]
        if m.content or not m.tool_calls:
            lines += [m.content or "", ""]
        lines += [f"- tool call: `{tc.name}({tc.arguments})`" for tc in m.tool_calls]
        lines += [""] if m.tool_calls else []
    return "\n".join(lines).rstrip() + "\n"


def parse_import(
    text: str, *, source: str = "input"
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Messages and conversation fields from an OpenAI `messages` array (or an object with
    a `messages` key), or from our own JSON export. Errors name what is wrong and where."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")
        raise ConfigError(f"{source} is not valid JSON (line {line}): {exc}") from None
    meta: dict[str, Any] = {}
    if isinstance(data, dict):
        if isinstance(data.get("conversation"), dict):
            conv = data["conversation"]
            meta = {k: conv.get(k) for k in ("title", "model", "system") if conv.get(k)}
        items = data.get("messages")
    else:
        items = data
    if not isinstance(items, list) or not items:
        raise ConfigError(
            f"{source} holds no messages: expected a JSON array of messages "
            '([{"role": "user", "content": "..."}]) or a talkline export.'
        )
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("role") not in ROLES:
            role = item.get("role") if isinstance(item, dict) else None
            raise ConfigError(
                f"message {i + 1} in {source} has no valid role (got {role!r}); "
                f"roles are {', '.join(ROLES)}."
            )
        if item.get("role") == "assistant" and item.get("status") not in (None, "complete"):
            continue
        keep = {k: item[k] for k in ("role", "content", "name", "tool_calls", "tool_call_id")
                if item.get(k) is not None}
        keep.setdefault("content", "")
        messages.append(keep)
    if messages and messages[0]["role"] == "system" and "system" in meta:
        messages = messages[1:]
    return messages, meta
