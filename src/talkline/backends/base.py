"""The interface every backend implements: one request in, a response or deltas out.

A backend does exactly one attempt. Retries, rate limits and fallbacks live in
`talkline.client`, around it. Backends raise only `talkline.errors` exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..types import ChatDelta, ChatParams, ChatResponse, Message
from ..types.completions import CompletionOptions

__all__ = ["AsyncBackend", "Backend", "ChatRequest", "HeadersCallback"]

# Called with (status, headers) as soon as a response's headers arrive, errors included.
HeadersCallback = Callable[[int, Mapping[str, str]], None]


@dataclass(frozen=True)
class ChatRequest:
    """Everything one attempt needs. `params.model` must be set."""

    messages: tuple[Message, ...]
    params: ChatParams
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. Idempotency-Key
    on_headers: HeadersCallback | None = None
    deadline: float | None = None  # when the attempt must be over (time.monotonic())
    api: str = "chat"  # which endpoint: "chat" (/chat/completions), "responses" or
    # "completions" (/completions: the prompt and its fields in `completion`)
    server_state: bool = False  # responses: store: true and previous_response_id
    reasoning: bool = False  # responses: ask for a reasoning summary (a reasoning model)
    completion: CompletionOptions | None = None  # completions: the prompt, echo, ...

    @property
    def model(self) -> str:
        return self.params.model or ""

    def to_body(self, *, stream: bool) -> dict[str, Any]:
        """The exact JSON body sent to `/chat/completions`."""
        body: dict[str, Any] = {"model": self.model}
        body["messages"] = [m.to_dict() for m in self.messages]
        params = self.params.to_body()
        params.pop("model", None)
        body.update(params)
        if stream:
            body["stream"] = True
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        return body

    def to_completions_body(self, *, stream: bool) -> dict[str, Any]:
        """The exact JSON body sent to `/completions` (`talkline.wire.completions`)."""
        from ..wire.completions import completions_body

        options = self.completion or CompletionOptions(
            "\n\n".join(m.text for m in self.messages))
        return completions_body(options, self.params.merge(model=self.model), stream=stream)

    def to_responses_body(self, *, stream: bool) -> dict[str, Any]:
        """The exact JSON body sent to `/responses` (`talkline.wire.responses_map`)."""
        from ..wire.responses_map import responses_body

        return responses_body(self.messages, self.params.merge(model=self.model),
                              stream=stream, server_state=self.server_state,
                              reasoning=self.reasoning)


class Backend(Protocol):
    """A synchronous backend."""

    name: str

    def complete(self, request: ChatRequest) -> ChatResponse: ...

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        """Yield deltas; raise StreamInterrupted if the stream ends unfinished."""
        ...

    def models(self) -> list[str]: ...

    def close(self) -> None: ...


class AsyncBackend(Protocol):
    """The asynchronous twin of `Backend`."""

    name: str

    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]: ...

    async def models(self) -> list[str]: ...

    async def aclose(self) -> None: ...
