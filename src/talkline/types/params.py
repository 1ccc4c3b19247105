"""Request parameters: `ChatParams`, every Chat Completions field but `messages` and
`stream`, validated against the range the API accepts; `params_from_mapping` builds one from
loose values (config file, `/set`, `-p NAME VALUE`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from ..errors import ParamError

__all__ = ["ChatParams", "params_from_mapping"]

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
