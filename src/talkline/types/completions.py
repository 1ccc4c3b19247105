"""The text completions endpoint's values: `CompletionOptions` (what a `/completions`
request has beyond the shared sampling parameters), `TextCompletion` (a whole answer, its
`TextChoice`s) and `TextDelta` (one piece of a stream).

The client carries a completion through the same loop as a chat answer (`ChatResponse`,
`ChatDelta`: a choice's text is its message's content, its `logprobs` kept as sent); these
types are what the caller gets back (`TextCompletion.from_chat`, `TextDelta.from_chat`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ParamError
from .responses import ChatDelta, ChatResponse, Usage

__all__ = ["MAX_LOGPROBS", "CompletionOptions", "TextChoice", "TextCompletion", "TextDelta"]

MAX_LOGPROBS = 5  # the API's most likely tokens per position, at most


@dataclass(frozen=True)
class CompletionOptions:
    """The prompt and the fields only `/completions` has."""

    prompt: str
    echo: bool | None = None
    logprobs: int | None = None
    suffix: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise ParamError(f"prompt must be a string, got {type(self.prompt).__name__}")
        if self.echo is not None and not isinstance(self.echo, bool):
            raise ParamError(f"echo must be true or false, got {self.echo!r}")
        lp = self.logprobs
        if lp is not None and (isinstance(lp, bool) or not isinstance(lp, int)
                               or not 0 <= lp <= MAX_LOGPROBS):
            raise ParamError(f"logprobs must be a whole number from 0 to {MAX_LOGPROBS} (the "
                             f"most likely tokens to list per position), got {lp!r}")
        if self.suffix is not None and not isinstance(self.suffix, str):
            raise ParamError(f"suffix must be a string, got {type(self.suffix).__name__}")

    def to_body(self) -> dict[str, Any]:
        """These fields as sent (None ones left out)."""
        body: dict[str, Any] = {"prompt": self.prompt}
        for name in ("echo", "logprobs", "suffix"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


@dataclass(frozen=True)
class TextChoice:
    index: int
    text: str
    finish_reason: str | None = None
    logprobs: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "finish_reason": self.finish_reason,
                "logprobs": self.logprobs}


@dataclass(frozen=True)
class TextCompletion:
    """A whole `text_completion`. `model` is what the server says answered."""

    id: str
    model: str
    choices: tuple[TextChoice, ...]
    usage: Usage | None = None
    created: int = 0
    system_fingerprint: str | None = None
    request_id: str | None = None
    # Set by the client, not the server:
    requested_model: str | None = None
    attempts: int = 1
    latency: float | None = None

    @property
    def text(self) -> str:
        """The first choice's text."""
        return self.choices[0].text if self.choices else ""

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None

    @classmethod
    def from_chat(cls, response: ChatResponse) -> TextCompletion:
        """The completion the client carried as a `ChatResponse`."""
        return cls(
            id=response.id, model=response.model, usage=response.usage,
            created=response.created, system_fingerprint=response.system_fingerprint,
            request_id=response.request_id, requested_model=response.requested_model,
            attempts=response.attempts, latency=response.latency,
            choices=tuple(TextChoice(c.index, c.message.text, c.finish_reason, c.logprobs)
                          for c in response.choices),
        )

    def to_dict(self) -> dict[str, Any]:
        """The answer in the API's own shape (`--json`)."""
        out: dict[str, Any] = {"id": self.id, "object": "text_completion",
                               "created": self.created, "model": self.model,
                               "choices": [c.to_dict() for c in self.choices]}
        if self.usage is not None:
            out["usage"] = self.usage.to_dict()
        if self.system_fingerprint is not None:
            out["system_fingerprint"] = self.system_fingerprint
        return out


@dataclass(frozen=True)
class TextDelta:
    """One piece of a streamed completion, for one choice (`index`). The last one of a
    stream may carry only `usage`; `restart=True`: the stream broke and is retried, drop
    this choice's text so far."""

    index: int = 0
    text: str = ""
    finish_reason: str | None = None
    logprobs: Any = None
    usage: Usage | None = None
    restart: bool = False

    @classmethod
    def from_chat(cls, delta: ChatDelta) -> TextDelta:
        """The piece the client carried as a `ChatDelta` (its logprobs from the event)."""
        logprobs = None
        for choice in (delta.raw or {}).get("choices") or ():
            if isinstance(choice, Mapping) and choice.get("index", 0) == delta.index:
                logprobs = choice.get("logprobs")
        return cls(index=delta.index, text=delta.content, finish_reason=delta.finish_reason,
                   logprobs=logprobs, usage=delta.usage, restart=delta.restart)
