"""Messages: `Message`, `ToolCall`, the roles, and `as_messages` (a prompt, one message or
many)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ParamError

__all__ = ["ROLES", "Message", "Role", "ToolCall", "as_messages"]

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant", "tool")


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    type: str = "function"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        fn = data.get("function") or {}
        return cls(
            id=str(data.get("id") or ""),
            name=str(fn.get("name") or ""),
            arguments=str(fn.get("arguments") or ""),
            type=str(data.get("type") or "function"),
        )


@dataclass(frozen=True)
class Message:
    """One chat message. `content` is text, a list of content parts, or None.

    An assistant message may carry what is never sent as its content: `reasoning` (the
    reasoning text shown apart: `reasoning_content`, `reasoning`, a `<think>` block moved
    out of the content, or a Responses API summary), `reasoning_items` (the Responses API's
    `reasoning` output items, encrypted content included, sent back before this
    message's content on the next turn of that API) and `response_id` (the id of the
    answer it came in, which `--server-state` continues from). `to_dict` leaves them out.
    """

    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    refusal: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    reasoning: str | None = None
    reasoning_items: tuple[Mapping[str, Any], ...] = ()
    response_id: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            hint = " (did you mean 'assistant'?)" if self.role.startswith("assist") else ""
            raise ParamError(
                f"role must be one of {', '.join(ROLES)}; got {self.role!r}{hint}"
            )

    @property
    def text(self) -> str:
        """The content as plain text (text parts joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role}
        if self.content is not None or not self.tool_calls:
            out["content"] = self.content
        if self.name is not None:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [tc.to_dict() for tc in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        known = {"role", "content", "name", "tool_calls", "tool_call_id", "refusal",
                 "reasoning"}
        reasoning = data.get("reasoning")
        return cls(
            role=str(data.get("role") or "assistant"),
            content=data.get("content"),
            name=data.get("name"),
            tool_calls=tuple(ToolCall.from_dict(t) for t in data.get("tool_calls") or ()),
            tool_call_id=data.get("tool_call_id"),
            refusal=data.get("refusal"),
            extra={k: v for k, v in data.items() if k not in known},
            reasoning=reasoning if isinstance(reasoning, str) else None,
        )


def as_messages(
    messages: str | Message | Mapping[str, Any] | Iterable[Message | Mapping[str, Any]],
) -> list[Message]:
    """Accept a prompt string, one message, or a sequence of messages or dicts."""
    if isinstance(messages, str):
        return [Message("user", messages)]
    if isinstance(messages, Message):
        return [messages]
    if isinstance(messages, Mapping):
        return [Message.from_dict(messages)]
    out = [m if isinstance(m, Message) else Message.from_dict(m) for m in messages]
    if not out:
        raise ParamError("messages must hold at least one message")
    return out
