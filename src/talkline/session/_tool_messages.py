"""The tool loop's messages in a conversation: stored in order, and what is sent back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from ..types import Message

if TYPE_CHECKING:
    from ..store import Conversation, ConversationStore
    from ..tools import Approve, ToolResult

__all__ = ["ToolKeywords", "answered_calls_only", "store_tool_messages"]


class ToolKeywords(TypedDict, total=False):
    """The tool keywords of `ChatSession` (and of `Client.complete`), as one value."""

    tools: Sequence[Any]
    approve: Approve | None
    chain_limit: int
    on_tool: Callable[[ToolResult], None] | None


def store_tool_messages(store: ConversationStore, record: Conversation, reply_id: int,
                        messages: Sequence[Message], model: str | None) -> int:
    """The loop's calls and results stored in order where the pending reply was (it
    becomes the first assistant `tool_calls` message), then a new pending row for the
    answer after them: its id."""
    first, *rest = messages
    store.update_message(reply_id, content=first.content, status="complete",
                         tool_calls=[c.to_dict() for c in first.tool_calls],
                         reasoning=first.reasoning, **_responses_fields(first))
    for message in rest:
        store.append_message(
            record.id, message.role, message.content,
            tool_calls=[c.to_dict() for c in message.tool_calls] or None,
            tool_call_id=message.tool_call_id, reasoning=message.reasoning,
            **_responses_fields(message))
    return store.append_message(record.id, "assistant", "", status="pending",
                                requested_model=model).id


def _responses_fields(message: Message) -> dict[str, Any]:
    """A loop message's Responses API reasoning items and response id, when it has them."""
    out: dict[str, Any] = {}
    if message.reasoning_items:
        out["reasoning_items"] = [dict(i) for i in message.reasoning_items]
    if message.response_id:
        out["response_id"] = message.response_id
    return out


def answered_calls_only(history: list[tuple[Message, int | None]]
                        ) -> list[tuple[Message, int | None]]:
    """Tool calls no tool result answered (no tools were given, or the loop stopped at
    its chain limit) are left out of what is sent: the API refuses an assistant message
    whose calls are not followed by their results. Such a reply's text, if any, is still
    sent."""
    out: list[tuple[Message, int | None]] = []
    for i, (message, mid) in enumerate(history):
        following = history[i + 1][0] if i + 1 < len(history) else None
        if message.tool_calls and (following is None or following.role != "tool"):
            if not message.text:
                continue
            message = Message(message.role, message.content, name=message.name,
                              response_id=message.response_id)
        out.append((message, mid))
    return out
