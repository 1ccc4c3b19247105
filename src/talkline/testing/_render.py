"""Building chat completion objects, stream chunks and SSE bytes for the scripted server."""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._actions import Reply

__all__ = [
    "StreamPlan",
    "auto_usage",
    "completion_object",
    "dumps",
    "estimate_tokens",
    "last_user_text",
    "new_id",
    "prompt_tokens",
    "sse_comment",
    "sse_event",
    "stream_plan",
]

_ALNUM = string.ascii_letters + string.digits
_PIECE = re.compile(r"\s*\S+|\s+")
FINGERPRINT = "fp_scripted"
DEFAULT_MAX_TOKENS = 256


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def words(text: str) -> int:
    return len(text.split())


def message_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return ""


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    msgs = body.get("messages")
    if not isinstance(msgs, list):
        return []
    return [m for m in msgs if isinstance(m, Mapping)]


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """Rough count: words of every message's content + 4 per message."""
    return sum(words(message_text(m.get("content"))) + 4 for m in _messages(body))


def choice_count(body: Mapping[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """What the rate limiter charges up front: prompt + n * max tokens (256 if unset)."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        limit = DEFAULT_MAX_TOKENS
    return prompt_tokens(body) + choice_count(body) * limit


def last_user_text(body: Mapping[str, Any]) -> str:
    for m in reversed(_messages(body)):
        if m.get("role") == "user":
            return message_text(m.get("content"))
    return ""


def auto_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _texts(reply: Reply, body: Mapping[str, Any]) -> list[str | None]:
    if reply.choices is not None:
        return list(reply.choices)
    n = choice_count(body)
    if n == 1 or reply.content is None:
        return [reply.content] * n
    return [f"{reply.content} [{i}]" for i in range(n)]


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    out = []
    for tc in reply.tool_calls or ():
        fn = tc.get("function") or {}
        out.append(
            {
                "id": tc.get("id") or new_id("call_"),
                "type": tc.get("type", "function"),
                "function": {
                    "name": fn.get("name", ""),
                    "arguments": fn.get("arguments", ""),
                },
            }
        )
    return out


def _finish(reply: Reply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def _usage(reply: Reply, body: Mapping[str, Any], texts: list[str | None]) -> dict[str, Any] | None:
    if reply.usage == "omit":
        return None
    if isinstance(reply.usage, Mapping):
        return dict(reply.usage)
    completion = sum(words(t or "") for t in texts)
    for tc in _tool_calls(reply):
        completion += max(1, len(tc["function"]["arguments"]) // 4) * len(texts)
    return auto_usage(prompt_tokens(body), completion)


def _model(reply: Reply, body: Mapping[str, Any], default_model: str) -> str:
    if reply.model is not None:
        return reply.model
    model = body.get("model")
    return model if isinstance(model, str) and model else default_model


def completion_object(reply: Reply, body: Mapping[str, Any], default_model: str) -> dict[str, Any]:
    """A full non-streamed ``chat.completion`` object."""
    texts = _texts(reply, body)
    tool_calls = _tool_calls(reply)
    choices = []
    for i, text in enumerate(texts):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text,
            "refusal": None,
            "annotations": [],
        }
        if tool_calls:
            message["tool_calls"] = tool_calls
        if reply.reasoning is not None:
            message[reply.reasoning_field] = reply.reasoning
        choices.append(
            {"index": i, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
        )
    obj: dict[str, Any] = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(reply, body, default_model),
        "choices": choices,
    }
    usage = _usage(reply, body, texts)
    if usage is not None:
        obj["usage"] = usage
    obj["service_tier"] = "default"
    obj["system_fingerprint"] = FINGERPRINT
    obj.update(reply.extra)
    return obj


def split_text(text: str, chunk_size: int | None) -> list[str]:
    """Pieces whose concatenation is exactly ``text``."""
    if not text:
        return []
    if chunk_size and chunk_size > 0:
        return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]
    return _PIECE.findall(text)


@dataclass
class StreamPlan:
    """The chunks of a streamed answer: ``head`` (role chunks), ``body`` (content and tool
    call fragments: the "chunks" faults count), ``tail`` (finish chunks, usage chunk)."""

    head: list[dict[str, Any]] = field(default_factory=list)
    body: list[dict[str, Any]] = field(default_factory=list)
    tail: list[dict[str, Any]] = field(default_factory=list)


def stream_plan(reply: Reply, body: Mapping[str, Any], default_model: str) -> StreamPlan:
    texts = _texts(reply, body)
    tool_calls = _tool_calls(reply)
    base: dict[str, Any] = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _model(reply, body, default_model),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        c = dict(base)
        c["choices"] = [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]
        c["usage"] = None
        c.update(reply.extra)
        return c

    plan = StreamPlan()
    per_choice: list[list[dict[str, Any]]] = []
    for i, text in enumerate(texts):
        plan.head.append(
            chunk(
                i,
                {"role": "assistant", "content": "" if text is not None else None, "refusal": None},
            )
        )
        deltas: list[dict[str, Any]] = [
            {reply.reasoning_field: p} for p in split_text(reply.reasoning or "", reply.chunk_size)
        ] + [{"content": p} for p in split_text(text or "", reply.chunk_size)]
        for j, tc in enumerate(tool_calls):
            if reply.tool_index == "none" or (reply.tool_index == "mixed" and j > 0):
                deltas.append({"tool_calls": [{"id": tc["id"], "type": tc["type"],
                                               "function": dict(tc["function"])}]})
                continue
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": j,
                            "id": tc["id"],
                            "type": tc["type"],
                            "function": {"name": tc["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            for piece in split_text(tc["function"]["arguments"], reply.chunk_size or 6):
                deltas.append({"tool_calls": [{"index": j, "function": {"arguments": piece}}]})
        per_choice.append(deltas)
    longest = max((len(d) for d in per_choice), default=0)
    for step in range(longest):
        for i, deltas in enumerate(per_choice):
            if step < len(deltas):
                plan.body.append(chunk(i, deltas[step]))
    for i in range(len(texts)):
        plan.tail.append(chunk(i, {}, _finish(reply)))
    include = body.get("stream_options")
    if isinstance(include, Mapping) and include.get("include_usage"):
        usage = _usage(reply, body, texts)
        if usage is not None:
            last = dict(base)
            last["choices"] = []
            last["usage"] = usage
            last.update(reply.extra)
            plan.tail.append(last)
    return plan


def sse_event(obj: Any, line_ending: str = "\n", multiline: bool = False) -> bytes:
    """``data: <json>`` + blank line. ``multiline`` splits the JSON over two ``data:``
    lines at a structural comma, so rejoining with ``\\n`` gives valid JSON."""
    if isinstance(obj, str):
        lines = [obj]
    elif multiline and isinstance(obj, Mapping) and len(obj) >= 2:
        items = [f"{dumps(k)}:{dumps(v)}" for k, v in obj.items()]
        lines = ["{" + items[0] + ",", ",".join(items[1:]) + "}"]
    else:
        lines = [dumps(obj)]
    text = "".join(f"data: {line}{line_ending}" for line in lines) + line_ending
    return text.encode("utf-8")


def sse_comment(line_ending: str = "\n", text: str = "keep-alive") -> bytes:
    return f": {text}{line_ending}{line_ending}".encode()
