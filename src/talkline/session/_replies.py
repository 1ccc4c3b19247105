"""A reply's two ends: the request without streaming shaped like a stream, and the
columns a finished reply is stored with."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..types import ChatDelta, ChatParams, ChatResponse, Message

if TYPE_CHECKING:
    from ..client import Client
    from ..schema import Structured

__all__ = ["Completion", "response_fields"]


class Completion:
    """A non-streamed request shaped like a stream: one delta per choice, then done."""

    def __init__(self, client: Client, messages: list[Message], params: ChatParams,
                 schema: Structured | None = None,
                 tools: Mapping[str, Any] | None = None) -> None:
        self._args = (client, messages, params)
        self._schema = schema
        self._tools = dict(tools or {})  # the tool loop's keywords (see ChatSession)
        self.response: ChatResponse | None = None

    def __iter__(self) -> Iterator[ChatDelta]:
        client, messages, params = self._args
        self.response = client.complete(messages, params=params, schema=self._schema,
                                        **self._tools)
        for choice in self.response.choices:
            yield ChatDelta(index=choice.index, content=choice.message.text,
                            finish_reason=choice.finish_reason,
                            reasoning=choice.message.reasoning or "")


def response_fields(resp: ChatResponse) -> dict[str, Any]:
    """The columns of a stored reply, cost included when the model's price is known."""
    fields: dict[str, Any] = {
        "content": resp.content,
        "reasoning": resp.message.reasoning,
        "model": resp.model or resp.requested_model,
        "finish_reason": resp.finish_reason,
        "latency": resp.latency,
        "ttft": resp.time_to_first_token,
        "request_id": resp.request_id,
    }
    message = resp.message
    if message.reasoning_items:  # the Responses API's, sent back on the next turn
        fields["reasoning_items"] = [dict(i) for i in message.reasoning_items]
    if message.response_id:
        fields["response_id"] = message.response_id
    calls = resp.message.tool_calls
    if calls:
        fields["tool_calls"] = [c.to_dict() for c in calls]
    if resp.total_usage is not None:  # a tool loop's tokens in all
        u = resp.total_usage
        fields.update(
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            cached_tokens=u.cached_tokens,
            reasoning_tokens=u.reasoning_tokens,
        )
    return fields
