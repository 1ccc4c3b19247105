"""Value types: messages, request parameters, responses and stream deltas.

All are small frozen dataclasses. Parsing is liberal (unknown fields are kept in `extra`,
missing optional fields become None); building requests is strict (`ChatParams` validates
every field against the range the API accepts).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from .errors import ParamError

__all__ = [
    "CONTEXT_STRATEGIES",
    "ROLES",
    "ChatDelta",
    "ChatParams",
    "ChatResponse",
    "Choice",
    "Message",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "as_messages",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant", "tool")

# When a conversation outgrows the model's window (`planning.context` does each).
ContextStrategy = Literal["truncate", "summarize", "error"]
CONTEXT_STRATEGIES: tuple[str, ...] = get_args(ContextStrategy)


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
    """One chat message. `content` is text, a list of content parts, or None."""

    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    refusal: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

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
        known = {"role", "content", "name", "tool_calls", "tool_call_id", "refusal"}
        return cls(
            role=str(data.get("role") or "assistant"),
            content=data.get("content"),
            name=data.get("name"),
            tool_calls=tuple(ToolCall.from_dict(t) for t in data.get("tool_calls") or ()),
            tool_call_id=data.get("tool_call_id"),
            refusal=data.get("refusal"),
            extra={k: v for k, v in data.items() if k not in known},
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


# ---------------------------------------------------------------- request parameters

_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
    "n": (1, 128),
    "top_logprobs": (0, 20),
    "max_tokens": (1, math.inf),
    "max_completion_tokens": (1, math.inf),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "reasoning_effort": ("none", "minimal", "low", "medium", "high", "xhigh", "max"),
    "verbosity": ("low", "medium", "high"),
    "service_tier": ("auto", "default", "flex", "scale", "priority", "fast"),
}
_INTS = {"n", "seed", "max_tokens", "max_completion_tokens", "top_logprobs"}
_RESPONSE_FORMATS = ("text", "json_object", "json_schema")


@dataclass(frozen=True)
class ChatParams:
    """Every Chat Completions request field except `messages` and `stream`.

    Fields left None are not sent, so the server's defaults apply. `extra_body` is merged
    into the request as is, for server-specific fields (vLLM, Ollama, gateways).
    """

    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    stop: str | tuple[str, ...] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    response_format: Mapping[str, Any] | None = None
    logit_bias: Mapping[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    user: str | None = None
    tools: tuple[Mapping[str, Any], ...] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    service_tier: str | None = None
    store: bool | None = None
    metadata: Mapping[str, str] | None = None
    prediction: Mapping[str, Any] | None = None
    modalities: tuple[str, ...] | None = None
    audio: Mapping[str, Any] | None = None
    web_search_options: Mapping[str, Any] | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    extra_body: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stop, list):
            object.__setattr__(self, "stop", tuple(self.stop))
        if isinstance(self.tools, list):
            object.__setattr__(self, "tools", tuple(self.tools))
        if isinstance(self.modalities, list):
            object.__setattr__(self, "modalities", tuple(self.modalities))
        self.validate()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def validate(self) -> None:
        for name in _INTS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ParamError(f"{name} must be a whole number, got {value!r}")
        for name, (lo, hi) in _RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"{name} must be a number, got {value!r}")
            if not (lo <= value <= hi) or value != value:
                rng = f"at least {lo:g}" if hi == math.inf else f"between {lo:g} and {hi:g}"
                raise ParamError(f"{name} must be {rng}, got {value:g}")
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ParamError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.stop is not None:
            stops = (self.stop,) if isinstance(self.stop, str) else self.stop
            if len(stops) > 4:
                raise ParamError(f"stop takes at most 4 sequences, got {len(stops)}")
            if any(not isinstance(s, str) or not s for s in stops):
                raise ParamError("stop sequences must be non-empty strings")
        if self.response_format is not None:
            if not isinstance(self.response_format, Mapping):
                raise ParamError(
                    'response_format must be an object such as {"type": "json_object"}, '
                    f"got {self.response_format!r}"
                )
            kind = self.response_format.get("type")
            if kind not in _RESPONSE_FORMATS:
                raise ParamError(
                    f"response_format type must be one of {', '.join(_RESPONSE_FORMATS)}; "
                    f"got {kind!r}"
                )
            if kind == "json_schema" and "json_schema" not in self.response_format:
                raise ParamError("response_format json_schema needs a 'json_schema' object")
        if self.top_logprobs is not None and not self.logprobs:
            raise ParamError("top_logprobs needs logprobs=true")
        if self.model is not None and not str(self.model).strip():
            raise ParamError("model must not be empty")

    def merge(self, **overrides: Any) -> ChatParams:
        """A copy with the non-None overrides applied (unknown names are refused)."""
        unknown = set(overrides) - set(self.field_names())
        if unknown:
            raise ParamError(
                f"unknown request parameter(s): {', '.join(sorted(unknown))}. "
                f"Known: {', '.join(self.field_names())}"
            )
        changes = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self

    def to_body(self) -> dict[str, Any]:
        """The request fields to send (None fields left out)."""
        body: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra_body":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            body[f.name] = value
        if self.extra_body:
            body.update(self.extra_body)
        return body

    def to_dict(self) -> dict[str, Any]:
        """Like `to_body` but keeping extra_body separate: for storage."""
        out = self.to_body()
        if self.extra_body:
            for key in self.extra_body:
                out.pop(key, None)
            out["extra_body"] = dict(self.extra_body)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChatParams:
        known = set(cls.field_names())
        kwargs = {k: v for k, v in data.items() if k in known}
        rest = {k: v for k, v in data.items() if k not in known and k not in ("messages",)}
        if rest:
            kwargs["extra_body"] = {**dict(kwargs.get("extra_body") or {}), **rest}
        return cls(**kwargs)


# ---------------------------------------------------------------- responses


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
    """A fragment of a streamed tool call; fragments with the same index are joined."""

    index: int
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
                    index=int(t.get("index") or 0),
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
                )
            )
        if usage is not None:
            out.append(cls(usage=usage, model=model, id=cid))
        return out


def params_from_mapping(values: Mapping[str, Any]) -> ChatParams:
    """Build ChatParams from loose values (config file, CLI `/set`), coercing types."""
    coerced: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(ChatParams)}
    for key, value in values.items():
        if key not in fields:
            raise ParamError(
                f"unknown request parameter {key!r}. Known: {', '.join(fields)}"
            )
        coerced[key] = _coerce(key, value)
    return ChatParams(**coerced)


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in _INTS:
        try:
            return int(value)
        except ValueError:
            raise ParamError(f"{name} must be a whole number, got {value!r}") from None
    if name in _RANGES:
        try:
            return float(value)
        except ValueError:
            raise ParamError(f"{name} must be a number, got {value!r}") from None
    if name in ("logprobs", "store", "parallel_tool_calls"):
        low = value.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ParamError(f"{name} must be true or false, got {value!r}")
    if name in ("response_format", "logit_bias", "metadata", "prediction", "audio",
                "web_search_options", "tool_choice", "tools", "extra_body", "stop", "modalities"):
        import json

        if name == "stop" and not value.startswith("["):
            return value
        if name == "tool_choice" and not value.startswith("{"):
            return value
        try:
            return cast(Any, json.loads(value))
        except ValueError:
            raise ParamError(f"{name} must be JSON, got {value!r}") from None
    return value
