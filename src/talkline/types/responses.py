"""What comes back: `ChatResponse` (its `Choice`s and `Usage`) for a whole answer, and
`ChatDelta` (with `ToolCallDelta`s) for each piece of a stream. `from_dict`/`from_chunk`
build them from data of the right shape (unknown fields kept in `extra`, missing optional
fields None); what a server sends is checked first by the wire's one parser,
`talkline.wire.parse`, which turns a wrong shape into `ResponseFormatError`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .messages import Message

__all__ = ["ChatDelta", "ChatResponse", "Choice", "ToolCallDelta", "Usage"]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Usage | None:
        if not data:
            return None
        ptd = data.get("prompt_tokens_details") or {}
        ctd = data.get("completion_tokens_details") or {}
        known = {"prompt_tokens", "completion_tokens", "total_tokens"}
        prompt = int(data.get("prompt_tokens") or 0)
        completion = int(data.get("completion_tokens") or 0)
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=int(data.get("total_tokens") or prompt + completion),
            cached_tokens=int(ptd.get("cached_tokens") or 0),
            reasoning_tokens=int(ctd.get("reasoning_tokens") or 0),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.total_tokens,
        )
        return out


@dataclass(frozen=True)
class Choice:
    index: int
    message: Message
    finish_reason: str | None = None
    logprobs: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Choice:
        known = {"index", "message", "finish_reason", "logprobs"}
        return cls(
            index=int(data.get("index") or 0),
            message=Message.from_dict(data.get("message") or {"role": "assistant"}),
            finish_reason=data.get("finish_reason"),
            logprobs=data.get("logprobs"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            index=self.index,
            message=self.message.to_dict(),
            finish_reason=self.finish_reason,
            logprobs=self.logprobs,
        )
        return out


@dataclass(frozen=True)
class ChatResponse:
    """A whole answer. `model` is what the server says answered; `request_id` its id."""

    id: str
    model: str
    choices: tuple[Choice, ...]
    usage: Usage | None = None
    created: int = 0
    object: str = "chat.completion"
    system_fingerprint: str | None = None
    service_tier: str | None = None
    request_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Set by the client, not the server:
    requested_model: str | None = None
    attempts: int = 1
    latency: float | None = None
    time_to_first_token: float | None = None
    # Under a schema (`complete(..., schema=...)`): the reply's JSON, checked; a pydantic
    # instance when a model class was given.
    parsed: Any = None
    # Set by the tool loop (`tools=`): the assistant `tool_calls` messages and `tool`
    # results it added before this answer, in order; the usage summed over all its
    # requests; the chain limit when the loop stopped there with calls left unrun.
    tool_messages: tuple[Message, ...] = ()
    loop_usage: Usage | None = None
    chain_limit_reached: int | None = None
    # Set by the tool loop when the next round's worst case would go over the budget
    # (`before_round` said so): why it stopped; the last calls stay unrun, as at the limit.
    budget_stopped: str | None = None
    # The server's whole answer as it came (a `chat.completion`, or a Responses API
    # `response` object): a relay (`talkline serve`) sends it on unchanged.
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def total_usage(self) -> Usage | None:
        """What the whole call cost: the tool loop's sum, else this answer's usage."""
        return self.loop_usage if self.loop_usage is not None else self.usage

    @property
    def content(self) -> str:
        """The first choice's text."""
        return self.choices[0].message.text if self.choices else ""

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None

    @property
    def message(self) -> Message:
        return self.choices[0].message if self.choices else Message("assistant", "")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, request_id: str | None = None) -> ChatResponse:
        known = {"id", "object", "created", "model", "choices", "usage", "system_fingerprint",
                 "service_tier"}
        choices = sorted(
            (Choice.from_dict(c) for c in data.get("choices") or ()), key=lambda c: c.index
        )
        return cls(
            id=str(data.get("id") or ""),
            object=str(data.get("object") or "chat.completion"),
            created=int(data.get("created") or 0),
            model=str(data.get("model") or ""),
            choices=tuple(choices),
            usage=Usage.from_dict(data.get("usage")),
            system_fingerprint=data.get("system_fingerprint"),
            service_tier=data.get("service_tier"),
            request_id=request_id,
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            id=self.id,
            object=self.object,
            created=self.created,
            model=self.model,
            choices=[c.to_dict() for c in self.choices],
        )
        if self.usage is not None:
            out["usage"] = self.usage.to_dict()
        if self.system_fingerprint is not None:
            out["system_fingerprint"] = self.system_fingerprint
        if self.service_tier is not None:
            out["service_tier"] = self.service_tier
        return out

    def replace(self, **changes: Any) -> ChatResponse:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of a streamed tool call; fragments with the same index are joined.
    `index` is None when the server left it out (some compatible servers do): the
    accumulator then joins fragments by `id` (see `talkline.wire.accumulate`)."""

    index: int | None
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class ChatDelta:
    """One piece of a streamed answer, for one choice (`index`).

    The final usage chunk arrives as a delta with `usage` set and no content.
    """

    index: int = 0
    content: str = ""
    role: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    refusal: str | None = None
    model: str | None = None
    id: str | None = None
    # The stream broke and is being retried: drop this choice's text received so far.
    restart: bool = False
    # A piece of reasoning text or summary (never content): `reasoning_content` /
    # `reasoning`, a `<think>` block the wire moved out of the content, or a Responses API
    # reasoning summary.
    reasoning: str = ""
    # Whole Responses API `reasoning` items (id, summary, encrypted_content), kept on the
    # message and sent back on the next turn.
    reasoning_items: tuple[Mapping[str, Any], ...] = ()
    # The Responses API's response id (set only by that API's decoder).
    response_id: str | None = None
    # The server's event as it came (a chat chunk, or a Responses API event), on the first
    # delta of that event only: a relay (`talkline serve`) sends it on unchanged, every
    # field kept (reasoning fields included). Not compared, not shown.
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_chunk(cls, chunk: Mapping[str, Any]) -> list[ChatDelta]:
        """All deltas in one `chat.completion.chunk` (several when n > 1)."""
        usage = Usage.from_dict(chunk.get("usage"))
        model = chunk.get("model")
        cid = chunk.get("id")
        out: list[ChatDelta] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            tcs = tuple(
                ToolCallDelta(
                    index=None if t.get("index") is None else int(t["index"]),
                    id=t.get("id"),
                    name=(t.get("function") or {}).get("name"),
                    arguments=str((t.get("function") or {}).get("arguments") or ""),
                )
                for t in delta.get("tool_calls") or ()
            )
            out.append(
                cls(
                    index=int(choice.get("index") or 0),
                    content=str(delta.get("content") or ""),
                    role=delta.get("role"),
                    tool_calls=tcs,
                    finish_reason=choice.get("finish_reason"),
                    refusal=delta.get("refusal"),
                    model=model,
                    id=cid,
                    reasoning=str(delta.get("reasoning") or ""),
                )
            )
        if usage is not None:
            out.append(cls(usage=usage, model=model, id=cid))
        return out
