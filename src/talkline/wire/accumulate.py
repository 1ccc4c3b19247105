"""Join stream deltas into one `ChatResponse` (pure, no I/O).

Tool-call fragments are joined by their `index`. Some compatible servers (Gemini's
endpoint, Ollama) leave `index` out: such a fragment joins the call with its `id`, or
starts a new call when that id is new; one with neither continues the latest call. Two
calls that omit `index` are therefore never merged. Reasoning text is joined apart from
the answer's text: it becomes the message's `reasoning`, never its content."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..types import ChatDelta, ChatResponse, Choice, Message, ToolCall, ToolCallDelta, Usage

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
    reasoning: list[str] = field(default_factory=list)
    reasoning_items: list[Mapping[str, Any]] = field(default_factory=list)
    tool_calls: list[_ToolCallParts] = field(default_factory=list)
    by_index: dict[int, _ToolCallParts] = field(default_factory=dict)
    by_id: dict[str, _ToolCallParts] = field(default_factory=dict)
    finish_reason: str | None = None

    def call_for(self, frag: ToolCallDelta) -> _ToolCallParts:
        """The call `frag` belongs to (a new one when it starts a call)."""
        call: _ToolCallParts | None = None
        if frag.index is not None:
            call = self.by_index.get(frag.index)
        elif frag.id:
            call = self.by_id.get(frag.id)
        elif self.tool_calls:
            call = self.tool_calls[-1]
        if call is None:
            call = _ToolCallParts()
            self.tool_calls.append(call)
            if frag.index is not None:
                self.by_index[frag.index] = call
        if frag.id and frag.id not in self.by_id:
            self.by_id[frag.id] = call
        return call


def _order(parts: _ChoiceParts) -> Callable[[_ToolCallParts], tuple[int, int]]:
    """Calls by index; those without one after, in the order they arrived."""
    indexes = {id(call): i for i, call in parts.by_index.items()}
    arrival = {id(call): n for n, call in enumerate(parts.tool_calls)}

    def key(call: _ToolCallParts) -> tuple[int, int]:
        i = indexes.get(id(call))
        return (0, i) if i is not None else (1, arrival[id(call)])

    return key


class StreamAccumulator:
    """Collects deltas by choice index and tool calls by their index."""

    def __init__(self, *, model: str = "") -> None:
        self.model = model
        self.id = ""
        self.response_id: str | None = None
        self.usage: Usage | None = None
        self._choices: dict[int, _ChoiceParts] = {}
        self.content_chars = 0
        self.first_content_at: float | None = None

    def add(self, delta: ChatDelta) -> None:
        if delta.id and not self.id:
            self.id = delta.id
        if delta.model:
            self.model = delta.model
        if delta.response_id:
            self.response_id = delta.response_id
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
        if delta.reasoning:
            parts.reasoning.append(delta.reasoning)
        parts.reasoning_items.extend(delta.reasoning_items)
        for frag in delta.tool_calls:
            call = parts.call_for(frag)
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

    def reasoning(self, index: int = 0) -> str:
        parts = self._choices.get(index)
        return "".join(parts.reasoning) if parts else ""

    def text(self, index: int = 0) -> str:
        parts = self._choices.get(index)
        return "".join(parts.text) if parts else ""

    def response(self, *, request_id: str | None = None) -> ChatResponse:
        choices = []
        for index, parts in sorted(self._choices.items()):
            calls = tuple(
                ToolCall(id=c.id, name=c.name, arguments="".join(c.arguments))
                for c in sorted(parts.tool_calls, key=_order(parts))
            )
            text = "".join(parts.text)
            message = Message(
                "assistant",
                text if text or not calls else None,
                tool_calls=calls,
                refusal="".join(parts.refusal) or None,
                reasoning="".join(parts.reasoning) or None,
                reasoning_items=tuple(parts.reasoning_items),
                response_id=self.response_id,
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
