"""Requests to the embedded model: the defaults a 135M model needs, one request per
choice, and each choice's stream through the repeated-line guard.

Defaults, unless the caller set them: `max_tokens` 512, `repeat_penalty` 1.1 (llama.cpp's,
sent in the body), temperature 0 (greedy, so a question gets the same answer each time),
and a system prompt when there is none. The guard
(`RepeatGuard`) is off under a JSON response_format or a grammar. A choice it ends keeps
its text up to the repeated line's first occurrence and finishes with `stop`.

A text completion (`api="completions"`) goes to llama.cpp's own `/v1/completions` with the
same defaults and guard, and no system prompt: the prompt is continued as it is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ...errors import ParamError, TalklineError
from ...types import ChatDelta, Message, Usage
from ...wire import tokenize as wire_tokenize
from ..base import ChatRequest
from .repeat_guard import RepeatGuard as RepeatGuard
from .server import LocalServer as LocalServer

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_REPEAT_PENALTY",
    "DEFAULT_TEMPERATURE",
    "MAX_LOCAL_N",
    "Choice",
    "choice_requests",
    "count_usage",
    "echoed",
    "guarded",
    "tokenize",
    "usage_delta",
]

DEFAULT_MAX_TOKENS = 512
DEFAULT_REPEAT_PENALTY = 1.1
DEFAULT_TEMPERATURE = 0.0
MAX_LOCAL_N = 8
GRAMMAR_STRING_MAX = 200  # characters of one string under a schema's grammar


def guarded(request: ChatRequest) -> bool:
    """The repeated-line stop is off under structured output (a JSON array of equal
    lines is a valid answer there)."""
    kind = (request.params.response_format or {}).get("type")
    extra = request.params.extra_body or {}
    return kind not in ("json_object", "json_schema") and not (
        extra.get("grammar") or extra.get("json_schema"))


def choice_requests(request: ChatRequest, model_id: str,
                    system: str | None) -> list[ChatRequest]:
    params = request.params
    n = params.n or 1
    if n > MAX_LOCAL_N:
        raise ParamError(f"n={n} is too slow on the embedded model (each choice is generated "
                         f"in turn); use n <= {MAX_LOCAL_N}.")
    messages = request.messages
    text = request.api == "completions"  # a prompt to continue: no system prompt for it
    if system and not text and not any(m.role in ("system", "developer") for m in messages):
        messages = (Message("system", system), *messages)
    extra = dict(params.extra_body or {})
    extra.setdefault("repeat_penalty", DEFAULT_REPEAT_PENALTY)
    changes: dict[str, Any] = {"model": model_id, "n": None, "extra_body": extra}
    if params.max_tokens is None and params.max_completion_tokens is None:
        changes["max_tokens"] = DEFAULT_MAX_TOKENS
    elif params.max_tokens is None:
        changes["max_tokens"], changes["max_completion_tokens"] = (
            params.max_completion_tokens, None)
    if params.temperature is None:
        changes["temperature"] = DEFAULT_TEMPERATURE
    grammar = _grammar_format(params.response_format)
    if grammar is not None:
        changes["response_format"] = grammar
    out = []
    for i in range(n):
        if params.seed is not None:
            changes["seed"] = (params.seed + i) % 2**32
        out.append(ChatRequest(messages=messages, params=dataclasses.replace(params, **changes),
                               headers=request.headers, on_headers=request.on_headers,
                               deadline=request.deadline, api="completions" if text else "chat",
                               completion=request.completion if text else None))
    return out


def _grammar_format(rf: Any) -> dict[str, Any] | None:
    """A `json_schema` response_format as llama.cpp's server takes it (it makes the schema a
    grammar), its strings bounded to `GRAMMAR_STRING_MAX` characters (see
    `talkline.schema.bounded_strings`); None for any other format."""
    spec = (rf or {}).get("json_schema") if (rf or {}).get("type") == "json_schema" else None
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        return None
    from ...schema import bounded_strings

    return {"type": "json_schema",
            "json_schema": {**spec, "schema": bounded_strings(spec["schema"],
                                                              GRAMMAR_STRING_MAX)}}


class Choice:
    """Turns one choice's deltas from the server into this backend's: the index it has in
    the whole answer, the repeated-line guard, the usage kept for the end."""

    def __init__(self, index: int, guarded: bool, echo: str = "") -> None:
        self.index = index
        self.echo = echo  # a completion's `echo`: the prompt, before the first text
        self.guard = RepeatGuard() if guarded else None
        self.generated: list[str] = []
        self.usage: Usage | None = None
        self.model: str | None = None
        self.id: str | None = None

    @property
    def stopped(self) -> bool:
        return self.guard is not None and self.guard.stopped

    def take(self, delta: ChatDelta) -> list[ChatDelta]:
        self.model, self.id = delta.model or self.model, delta.id or self.id
        if delta.usage is not None:
            self.usage = delta.usage
            return []
        out: list[ChatDelta] = []
        content = delta.content
        if content:
            self.generated.append(content)
        if self.guard is not None and content:
            content = self.guard.feed(content)
        if self.guard is not None and delta.finish_reason:
            content += self.guard.finish()
        if self.echo and (content or delta.finish_reason):
            content, self.echo = self.echo + content, ""
        if content or delta.reasoning or delta.role or delta.tool_calls or delta.refusal or (
            delta.finish_reason
        ):
            out.append(dataclasses.replace(delta, index=self.index, content=content))
        if self.stopped:
            out.append(ChatDelta(index=self.index, finish_reason="stop", model=self.model,
                                 id=self.id))
        return out


def echoed(request: ChatRequest) -> str:
    """The prompt a completion with `echo` shows first (llama.cpp's server does not)."""
    options = request.completion
    return options.prompt if options is not None and options.echo else ""


def usage_delta(choices: list[Choice], prompt_tokens: int | None) -> ChatDelta:
    first = choices[0]
    prompt = prompt_tokens if prompt_tokens is not None else (
        first.usage.prompt_tokens if first.usage else 0)
    completion = sum(c.usage.completion_tokens for c in choices if c.usage)
    return ChatDelta(usage=Usage(prompt_tokens=prompt, completion_tokens=completion,
                                 total_tokens=prompt + completion),
                     model=first.model, id=first.id)


def tokenize(server: LocalServer, text: str) -> list[int]:
    """The model's own token ids for `text`, from its server's `/tokenize`."""
    return wire_tokenize.tokenize(server.connection(), text)


def count_usage(server: LocalServer, request: ChatRequest, choice: Choice) -> None:
    """Usage for a choice the guard ended (the server sends none when cut short): the
    prompt after the chat template, and every token generated, repeats included. A server
    without llama.cpp's /apply-template and /tokenize: the pieces received (llama.cpp
    streams one token per piece) and no prompt count."""
    if choice.usage is not None:
        return
    conn = server.connection()
    try:
        prompt_text = request.completion.prompt if request.completion else \
            wire_tokenize.apply_template(conn, [m.to_dict() for m in request.messages])
        prompt = len(wire_tokenize.tokenize(conn, prompt_text))
        completion = len(wire_tokenize.tokenize(conn, "".join(choice.generated)))
    except (TalklineError, ValueError, TypeError):
        prompt, completion = 0, len(choice.generated)
    choice.usage = Usage(prompt_tokens=prompt, completion_tokens=completion,
                         total_tokens=prompt + completion)
