"""Join stream deltas into one `ChatResponse` (pure, no I/O)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..types import ChatDelta, ChatResponse, Choice, Message, ToolCall, Usage

__all__ = ["StreamAccumulator"]


@dataclass
class _ToolCallParts:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _ChoiceParts:
    text: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    tool_calls: dict[int, _ToolCallParts] = field(default_factory=dict)
    finish_reason: str | None = None


class StreamAccumulator:
    """Collects deltas by choice index and tool calls by their index."""

    def __init__(self, *, model: str = "") -> None:
        self.model = model
        self.id = ""
        self.usage: Usage | None = None
        self._choices: dict[int, _ChoiceParts] = {}
        self.content_chars = 0
        self.first_content_at: float | None = None

    def add(self, delta: ChatDelta) -> None:
        if delta.id and not self.id:
            self.id = delta.id
        if delta.model:
            self.model = delta.model
        if delta.usage is not None:
            self.usage = delta.usage
            return
        parts = self._choices.setdefault(delta.index, _ChoiceParts())
        if delta.content:
            parts.text.append(delta.content)
            self.content_chars += len(delta.content)
            if self.first_content_at is None:
                self.first_content_at = time.monotonic()
        if delta.refusal:
            parts.refusal.append(delta.refusal)
        for frag in delta.tool_calls:
            call = parts.tool_calls.setdefault(frag.index, _ToolCallParts())
            if frag.id:
                call.id = frag.id
            if frag.name:
                call.name += frag.name if call.name != frag.name else ""
            if frag.arguments:
                call.arguments.append(frag.arguments)
            if self.first_content_at is None:
                self.first_content_at = time.monotonic()
        if delta.finish_reason:
            parts.finish_reason = delta.finish_reason

    @property
    def has_content(self) -> bool:
        """True once any text or tool call reached the accumulator."""
        return self.first_content_at is not None

    @property
    def finished(self) -> bool:
        """Every choice seen so far has a finish reason."""
        return bool(self._choices) and all(c.finish_reason for c in self._choices.values())

    def texts(self) -> dict[int, str]:
        return {i: "".join(c.text) for i, c in sorted(self._choices.items())}

    def text(self, index: int = 0) -> str:
        parts = self._choices.get(index)
        return "".join(parts.text) if parts else ""

    def response(self, *, request_id: str | None = None) -> ChatResponse:
        choices = []
        for index, parts in sorted(self._choices.items()):
            calls = tuple(
                ToolCall(id=c.id, name=c.name, arguments="".join(c.arguments))
                for _, c in sorted(parts.tool_calls.items())
            )
            text = "".join(parts.text)
            message = Message(
                "assistant",
                text if text or not calls else None,
                tool_calls=calls,
                refusal="".join(parts.refusal) or None,
            )
            choices.append(Choice(index=index, message=message, finish_reason=parts.finish_reason))
        return ChatResponse(
            id=self.id,
            model=self.model,
            choices=tuple(choices),
            usage=self.usage,
            created=int(time.time()),
            request_id=request_id,
        )
