"""The actions a :class:`~talkline.testing.ScriptedServer` can be scripted with."""

from __future__ import annotations

import datetime as _dt
import email.utils
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Action", "Error", "Fault", "Reply", "ActionSource"]

FaultKind = Literal["cut", "reset", "stall", "error_event", "slow_first_byte"]

_CUT_TEXT = "The quick brown fox jumps over the lazy dog, then keeps running far away."


@dataclass(frozen=True)
class Reply:
    """A successful chat completion, streamed or not according to the request.

    ``content=None`` gives ``"content": null`` (typical with ``tool_calls``).
    ``finish_reason=None`` means ``"tool_calls"`` if ``tool_calls`` are given, else ``"stop"``.
    ``usage``: ``None``/``"auto"`` computes rough counts, a dict is sent as is, ``"omit"``
    leaves usage out (non-streamed) / sends no usage chunk (streamed), like some
    compatible servers.
    ``choices``: one content string per choice (overrides ``n``).
    ``tool_calls``: ``[{"id", "type": "function", "function": {"name", "arguments"}}]``.
    ``headers``: extra response headers. ``extra``: merged into the top-level object (and
    into every streamed chunk). ``chunk_size``: characters per streamed content chunk
    (default: word-ish pieces). ``comments``: ``: keep-alive`` comments between events.
    ``multiline_data``: each event's JSON split over two ``data:`` lines.
    ``chunk_delay``: seconds to wait before each streamed content chunk (a slow model,
    e.g. to type while a reply streams).
    ``tool_index``: how streamed tool calls are numbered: ``"index"`` (fragments with their
    ``index``, as OpenAI sends them), ``"none"`` (each call whole in one fragment with its
    ``id`` and no ``index``, as Gemini's endpoint and Ollama send them), ``"mixed"`` (the
    first call by index, the others whole without one).
    ``reasoning``: reasoning text the server sends apart from the content: on the chat
    endpoint in the field ``reasoning_field`` names (``"reasoning_content"`` as DeepSeek,
    vLLM and llama.cpp send it; ``"reasoning"`` as OpenRouter does), streamed as deltas
    before the content and in the whole message; on ``/v1/responses`` as a reasoning
    item's summary with an ``encrypted_content`` (``encrypted_reasoning``, else one made
    from the summary). A ``<think>`` block is just part of ``content``.
    """

    content: str | None = "Hello!"
    finish_reason: str | None = None
    usage: Mapping[str, Any] | str | None = None
    model: str | None = None
    choices: Sequence[str] | None = None
    tool_calls: Sequence[Mapping[str, Any]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    chunk_size: int | None = None
    comments: bool = False
    multiline_data: bool = False
    chunk_delay: float = 0.0
    tool_index: Literal["index", "none", "mixed"] = "index"
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"
    encrypted_reasoning: str | None = None


@dataclass(frozen=True)
class Error:
    """An HTTP error answer: ``{"error": {...}}`` JSON, or ``body`` sent raw."""

    status: int = 500
    message: str = "The server had an error while processing your request. Sorry about that!"
    type: str = "server_error"
    code: str | None = None
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    content_type: str = "application/json"

    def error_object(self) -> dict[str, Any]:
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}

    @classmethod
    def rate_limit(
        cls,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        retry_after_date: float | _dt.datetime | None = None,
        message_hint_seconds: float | None = None,
        should_retry: bool | None = None,
        kind: str = "requests",
        model: str = "gpt-4o-mini",
    ) -> Error:
        """429 ``rate_limit_exceeded``.

        ``retry_after`` -> ``retry-after: <seconds>``; ``retry_after_ms`` -> ``retry-after-ms``;
        ``retry_after_date`` (a datetime, or seconds from now, computed at construction)
        -> ``retry-after: <HTTP-date>``; ``message_hint_seconds`` -> "Please try again in
        1.146s." in the message; ``should_retry`` -> ``x-should-retry: true|false``;
        ``kind`` is the error ``type`` (``requests`` or ``tokens``).
        """
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = _num(retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = _num(retry_after_ms)
        if retry_after_date is not None:
            if isinstance(retry_after_date, _dt.datetime):
                when = retry_after_date
            else:
                when = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=retry_after_date)
            headers["retry-after"] = email.utils.format_datetime(
                when.astimezone(_dt.timezone.utc), usegmt=True
            )
        if should_retry is not None:
            headers["x-should-retry"] = "true" if should_retry else "false"
        unit = "tokens per min (TPM)" if kind == "tokens" else "requests per min (RPM)"
        message = (
            f"Rate limit reached for {model} in organization org-scripted on {unit}: "
            "Limit 3000, Used 3000, Requested 1."
        )
        if message_hint_seconds is not None:
            message += f" Please try again in {_num(message_hint_seconds)}s."
        message += " Visit https://platform.openai.com/account/rate-limits to learn more."
        return cls(
            status=429, message=message, type=kind, code="rate_limit_exceeded", headers=headers
        )

    @classmethod
    def quota(cls) -> Error:
        """429 ``insufficient_quota`` (never worth retrying)."""
        return cls(
            status=429,
            message=(
                "You exceeded your current quota, please check your plan and billing details."
            ),
            type="insufficient_quota",
            code="insufficient_quota",
        )

    @classmethod
    def context_length(cls, limit: int = 128000, got: int = 130000) -> Error:
        """400 ``context_length_exceeded`` with OpenAI's exact message."""
        return cls(
            status=400,
            message=(
                f"This model's maximum context length is {limit} tokens. However, your "
                f"messages resulted in {got} tokens. Please reduce the length of the messages."
            ),
            type="invalid_request_error",
            code="context_length_exceeded",
            param="messages",
        )

    @classmethod
    def invalid_key(cls) -> Error:
        """401 ``invalid_api_key``."""
        return cls(
            status=401,
            message=(
                "Incorrect API key provided: sk-fak***...1234. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            ),
            type="invalid_request_error",
            code="invalid_api_key",
        )

    @classmethod
    def not_found_model(cls, model: str) -> Error:
        """404 ``model_not_found``."""
        return cls(
            status=404,
            message=f"The model `{model}` does not exist or you do not have access to it.",
            type="invalid_request_error",
            code="model_not_found",
        )

    @classmethod
    def html(cls, status: int = 502) -> Error:
        """An nginx-style HTML error page (as proxies send), ``text/html``."""
        reason = {
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Temporarily Unavailable",
            504: "Gateway Time-out",
        }.get(status, "Error")
        page = (
            f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return cls(
            status=status,
            message=f"{status} {reason}",
            type="server_error",
            body=page,
            content_type="text/html",
        )


@dataclass(frozen=True)
class Fault:
    """A transport-level misbehaviour. Build with the classmethods.

    "chunks" count the streamed *content* chunks after the first (role) chunk.
    """

    kind: FaultKind
    after_chunks: int | None = None
    seconds: float = 0.0
    reply: Reply = field(default_factory=lambda: Reply(content=_CUT_TEXT))
    then: Reply | Error | None = None
    status_like: int = 500
    message: str = "The server had an error while processing your request. Sorry about that!"
    type: str = "server_error"
    code: str | None = None

    @classmethod
    def cut_after(cls, k: int, content: str = _CUT_TEXT, chunk_size: int | None = None) -> Fault:
        """Stream: k content chunks, then a clean end with no finish_reason and no [DONE].
        Non-streamed: a Content-Length larger than the body, then close (truncated body)."""
        return cls("cut", after_chunks=k, reply=Reply(content=content, chunk_size=chunk_size))

    @classmethod
    def reset(cls, after_chunks: int | None = None, content: str = _CUT_TEXT) -> Fault:
        """TCP RST: before any response (``None``) or after k content chunks
        (non-streamed: after part of the body)."""
        return cls("reset", after_chunks=after_chunks, reply=Reply(content=content))

    @classmethod
    def stall(cls, after_chunks: int = 0, seconds: float = 5.0, content: str = _CUT_TEXT) -> Fault:
        """Stream: headers + role chunk + k content chunks, sleep, end without finishing.
        Non-streamed: sleep (after part of the body if k > 0), then close with no answer.
        The sleep ends early when the server stops."""
        return cls(
            "stall", after_chunks=after_chunks, seconds=seconds, reply=Reply(content=content)
        )

    @classmethod
    def error_event(
        cls,
        after_chunks: int = 1,
        status_like: int = 500,
        message: str | None = None,
        type: str | None = None,
        code: str | None = None,
        content: str = _CUT_TEXT,
    ) -> Fault:
        """Stream: k content chunks then ``data: {"error": {...}}`` and the end (no [DONE]).
        Non-streamed: an HTTP error with status ``status_like``."""
        if status_like == 429:
            default_msg = "Rate limit reached for requests. Please try again in 1s."
            default_type, default_code = "requests", "rate_limit_exceeded"
        elif status_like >= 500:
            default_msg = Error().message
            default_type, default_code = "server_error", None
        else:
            default_msg = "Invalid request."
            default_type, default_code = "invalid_request_error", None
        return cls(
            "error_event",
            after_chunks=after_chunks,
            reply=Reply(content=content),
            status_like=status_like,
            message=message if message is not None else default_msg,
            type=type if type is not None else default_type,
            code=code if code is not None else default_code,
        )

    @classmethod
    def slow_first_byte(cls, seconds: float, then: Reply | Error | None = None) -> Fault:
        """Wait ``seconds`` (interruptible by stop) before answering ``then``."""
        return cls("slow_first_byte", seconds=seconds, then=then if then is not None else Reply())

    def as_error(self) -> Error:
        return Error(status=self.status_like, message=self.message, type=self.type, code=self.code)


Action = Reply | Error | Fault
ActionSource = Reply | Error | Fault | Callable[[Mapping[str, Any]], Action]


def _num(x: float) -> str:
    """1.0 -> "1", 1.146 -> "1.146"."""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.3f}".rstrip("0").rstrip(".")
