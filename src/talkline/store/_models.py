"""What the store hands out: frozen dataclasses, never sqlite3 rows.

Row decoding lives here too, next to the field lists it must agree with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..types import Message, ToolCall

__all__ = [
    "STATUSES",
    "Conversation",
    "SearchHit",
    "StoredMessage",
    "Summary",
    "UsageRow",
    "title_from_text",
]

STATUSES: tuple[str, ...] = ("pending", "complete", "interrupted", "error")
TITLE_LENGTH = 60
MAX_TITLE = 200  # a title set by hand (history title, /title, the web page), characters


@dataclass(frozen=True)
class Conversation:
    """One conversation. The counters cover every message, other branches included."""

    id: str
    title: str | None
    created: float
    updated: float
    model: str | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    head_message_id: int | None = None
    turns: int = 0  # user messages on the active path
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    client: str | None = None  # the gateway key's name, for `talkline serve`'s exchanges

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredMessage:
    """A message as stored, with what it cost and how it went.

    `content` is the text (what full-text search sees); when the message was sent as
    content parts (images, audio), `parts` holds them and `to_message()` sends them.
    Token counts and cost are None when unknown, which is not the same as 0.
    """

    id: int
    conversation_id: str
    parent_id: int | None
    position: int
    role: str
    content: str | None
    created: float
    status: str = "complete"
    parts: list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    model: str | None = None
    requested_model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: float | None = None
    cost_estimated: bool = False
    latency: float | None = None
    ttft: float | None = None
    request_id: str | None = None
    batch: bool = False
    reasoning_items: tuple[dict[str, Any], ...] = ()  # Responses API, sent back next turn
    response_id: str | None = None  # the Responses API answer it came in
    reasoning: str | None = None  # an assistant's reasoning text, never sent back

    @property
    def text(self) -> str:
        return self.content or ""

    def to_message(self) -> Message:
        """The message to send back to the API as history."""
        return Message(
            role=self.role,
            content=self.parts if self.parts is not None else self.content,
            name=self.name,
            tool_calls=self.tool_calls,
            tool_call_id=self.tool_call_id,
            reasoning_items=self.reasoning_items,
            response_id=self.response_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready; `content` holds the parts when there are any."""
        out = asdict(self)
        out["reasoning_items"] = [dict(i) for i in self.reasoning_items]
        out["tool_calls"] = [tc.to_dict() for tc in self.tool_calls]
        if self.parts is not None:
            out["content"] = self.parts
        del out["parts"]
        return out


@dataclass(frozen=True)
class SearchHit:
    conversation_id: str
    message_id: int
    role: str
    snippet: str  # the match wrapped in the start and end marks ("[" and "]" by default)
    created: float
    title: str | None


@dataclass(frozen=True)
class UsageRow:
    """One assistant message's usage. `model` falls back to the requested model."""

    created: float
    conversation_id: str
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost: float | None
    cost_estimated: bool
    batch: bool
    requested_model: str | None = None  # the name asked for: `local`, not the GGUF file


@dataclass(frozen=True)
class Summary:
    """A summary of a conversation's path up to and including one message."""

    id: int
    conversation_id: str
    covers_up_to_message_id: int
    content: str
    model: str | None
    tokens: int | None
    created: float


def title_from_text(text: str | None) -> str | None:
    """First non-blank line, whitespace collapsed, at most 60 characters."""
    for line in (text or "").splitlines():
        title = re.sub(r"\s+", " ", line).strip()
        if title:
            if len(title) > TITLE_LENGTH:
                title = title[: TITLE_LENGTH - 1].rstrip() + "…"
            return title
    return None


def stored_title(title: str | None) -> str | None:
    """A title as it is stored: lone surrogates replaced, control characters and runs of
    whitespace made one space, at most MAX_TITLE characters; None when nothing is left."""
    from ..types.text import clean_text

    text = re.sub(r"[\s\x00-\x1f\x7f-\x9f]+", " ", clean_text(title or "")).strip()
    if len(text) > MAX_TITLE:
        text = text[: MAX_TITLE - 1].rstrip() + "…"
    return text or None


# ---------------------------------------------------------------- rows <-> values

CONVERSATION_COLUMNS = (
    "id, title, created, updated, model, system, params, head_message_id, turns, "
    "prompt_tokens, completion_tokens, cost, client"
)
MESSAGE_COLUMNS = (
    "id, conversation_id, parent_id, position, role, content, created, status, parts, name, "
    "tool_calls, tool_call_id, model, requested_model, params, finish_reason, error, "
    "prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost, "
    "cost_estimated, latency, ttft, request_id, batch, reasoning_items, response_id, reasoning"
)


_MESSAGE_FIELDS = tuple(f.name for f in fields(StoredMessage))


def conversation_from_row(row: Sequence[Any]) -> Conversation:
    values = list(row)
    values[6] = _load_object(values[6])
    return Conversation(*values)


def message_from_row(row: Sequence[Any]) -> StoredMessage:
    values = list(row)
    if values[8] is not None:
        values[8] = json.loads(values[8])
    values[10] = tuple(ToolCall.from_dict(t) for t in json.loads(values[10])) if values[10] else ()
    values[14] = _load_object(values[14])
    values[22] = bool(values[22])
    values[26] = bool(values[26])
    values[27] = tuple(json.loads(values[27])) if values[27] else ()
    # Filling __dict__ directly: a frozen dataclass's __init__ sets each of the 30 fields
    # through object.__setattr__, which was a third of the time to load a long conversation.
    message = object.__new__(StoredMessage)
    message.__dict__.update(zip(_MESSAGE_FIELDS, values, strict=True))
    return message


def summary_from_row(row: Sequence[Any]) -> Summary:
    return Summary(*row)


def usage_from_row(row: Sequence[Any]) -> UsageRow:
    values = list(row)
    values[8] = bool(values[8])
    values[9] = bool(values[9])
    return UsageRow(*values)


def _load_object(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def dump_object(value: Mapping[str, Any] | None) -> str | None:
    return json.dumps(dict(value), ensure_ascii=False) if value else None


def dump_items(value: Sequence[Mapping[str, Any]] | None) -> str | None:
    return json.dumps([dict(i) for i in value], ensure_ascii=False) if value else None


def dump_tool_calls(value: Sequence[ToolCall | Mapping[str, Any]] | None) -> str | None:
    if not value:
        return None
    calls = [_tool_call(tc).to_dict() for tc in value]
    return json.dumps(calls, ensure_ascii=False)


def _tool_call(value: ToolCall | Mapping[str, Any]) -> ToolCall:
    """The API's shape ({"function": {...}}), or the flat one `dataclasses.asdict` gives."""
    if isinstance(value, ToolCall):
        return value
    if "function" in value:
        return ToolCall.from_dict(value)
    return ToolCall(
        id=str(value.get("id") or ""),
        name=str(value.get("name") or ""),
        arguments=str(value.get("arguments") or ""),
        type=str(value.get("type") or "function"),
    )


def split_content(
    content: str | Sequence[Mapping[str, Any]] | None,
) -> tuple[str | None, str | None]:
    """(text for the `content` column and search, JSON of the parts or None)."""
    if content is None or isinstance(content, str):
        return content, None
    parts = [dict(p) for p in content]
    text = "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
    return text, json.dumps(parts, ensure_ascii=False)
