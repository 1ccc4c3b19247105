"""The scripted server's Responses API dialect (pure): a `Reply` as a `response` object, or
as the typed event sequence a stream of it sends, shaped as the official schemas say
(`Response`, `ResponseStreamEvent`).

A reply's reasoning (`Reply.reasoning`) becomes a `reasoning` item with that summary and
an `encrypted_content` (`Reply.encrypted_reasoning`, else one made up from the summary);
its content an `output_text` message; its tool calls `function_call` items. The finish
reason `length` is `status: incomplete` with `incomplete_details.reason:
max_output_tokens` (`content_filter` likewise); otherwise `completed`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._actions import Reply
from ._render import new_id, split_text, words

__all__ = ["ResponseEvents", "input_text", "response_events", "response_object"]

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def input_text(body: Mapping[str, Any]) -> str:
    """The last user text of a `/responses` body (for the default echo)."""
    items = body.get("input")
    if isinstance(items, str):
        return items
    for item in reversed(items if isinstance(items, list) else []):
        if isinstance(item, Mapping) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return "".join(str(p.get("text", "")) for p in content or ()
                           if isinstance(p, Mapping) and p.get("type") == "input_text")
    return ""


def _status(reply: Reply) -> tuple[str, dict[str, str] | None]:
    reason = _INCOMPLETE.get(reply.finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def _usage(reply: Reply, body: Mapping[str, Any]) -> dict[str, Any] | None:
    if reply.usage == "omit":
        return None
    if isinstance(reply.usage, Mapping):
        return dict(reply.usage)
    prompt = max(1, words(str(body.get("input") or "")) + words(str(body.get("instructions")
                                                                     or "")))
    reasoning = words(reply.reasoning or "")
    output = words(reply.content or "") + reasoning
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0,
                                                              "cache_write_tokens": 0},
            "output_tokens": output, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + output}


def _encrypted(reply: Reply) -> str:
    if reply.encrypted_reasoning is not None:
        return reply.encrypted_reasoning
    return "gAAAA" + base64.b64encode((reply.reasoning or "").encode()).decode()


@dataclass
class _Items:
    """The output items of one reply, with their ids."""

    reasoning: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def all(self) -> list[dict[str, Any]]:
        return [i for i in (self.reasoning, self.message) if i is not None] + self.calls


def _items(reply: Reply) -> _Items:
    items = _Items()
    if reply.reasoning is not None:
        items.reasoning = {"type": "reasoning", "id": new_id("rs_"),
                           "summary": [{"type": "summary_text", "text": reply.reasoning}],
                           "encrypted_content": _encrypted(reply)}
    if reply.content is not None:
        items.message = {"type": "message", "id": new_id("msg_"), "role": "assistant",
                         "status": "completed",
                         "content": [{"type": "output_text", "text": reply.content,
                                      "annotations": [], "logprobs": []}]}
    for call in reply.tool_calls or ():
        fn = call.get("function") or {}
        items.calls.append({"type": "function_call", "id": new_id("fc_"),
                            "call_id": str(call.get("id") or new_id("call_")),
                            "name": str(fn.get("name", "")),
                            "arguments": str(fn.get("arguments", "")), "status": "completed"})
    return items


def _envelope(reply: Reply, body: Mapping[str, Any], model: str, rid: str, status: str,
              incomplete: dict[str, str] | None, output: list[dict[str, Any]],
              usage: dict[str, Any] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": rid, "object": "response", "created_at": int(time.time()), "status": status,
        "error": None, "incomplete_details": incomplete,
        "instructions": body.get("instructions"), "model": reply.model or model,
        "output": output, "parallel_tool_calls": True, "metadata": {},
        "tools": [], "tool_choice": "auto", "temperature": 1.0, "top_p": 1.0,
        "previous_response_id": body.get("previous_response_id"),
        "store": bool(body.get("store", True)),
    }
    if usage is not None:
        obj["usage"] = usage
    obj.update(reply.extra)
    return obj


def response_object(reply: Reply, body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A whole `response` (a non-streamed answer)."""
    status, incomplete = _status(reply)
    items = _items(reply)
    return _envelope(reply, body, str(body.get("model") or model), new_id("resp_"), status,
                     incomplete, items.all(), _usage(reply, body))


@dataclass
class ResponseEvents:
    """A stream's events: `head` up to the first text delta, `body` the text deltas (the
    "content chunks" faults count), `tail` the rest, the terminal event last."""

    head: list[dict[str, Any]]
    body: list[dict[str, Any]]
    tail: list[dict[str, Any]]


def response_events(reply: Reply, body: Mapping[str, Any], model: str) -> ResponseEvents:
    """The events of a streamed answer (`sequence_number`s are the writer's)."""
    name = str(body.get("model") or model)
    rid = new_id("resp_")
    status, incomplete = _status(reply)
    items = _items(reply)
    head: list[dict[str, Any]] = []
    head.append({"type": "response.created", "response": _envelope(
        reply, body, name, rid, "in_progress", None, [], None)})
    index = 0
    if items.reasoning is not None:
        item = items.reasoning
        iid, text = item["id"], reply.reasoning or ""
        part = {"type": "summary_text", "text": ""}
        head.append({"type": "response.output_item.added", "output_index": index,
                     "item": {**item, "summary": [], "encrypted_content": None}})
        head.append({"type": "response.reasoning_summary_part.added", "item_id": iid,
                     "output_index": index, "summary_index": 0, "part": part})
        for piece in split_text(text, reply.chunk_size):
            head.append({"type": "response.reasoning_summary_text.delta", "item_id": iid,
                         "output_index": index, "summary_index": 0, "delta": piece})
        head.append({"type": "response.reasoning_summary_text.done", "item_id": iid,
                     "output_index": index, "summary_index": 0, "text": text})
        head.append({"type": "response.reasoning_summary_part.done", "item_id": iid,
                     "output_index": index, "summary_index": 0,
                     "part": {"type": "summary_text", "text": text}})
        head.append({"type": "response.output_item.done", "output_index": index,
                     "item": item})
        index += 1
    deltas: list[dict[str, Any]] = []
    tail: list[dict[str, Any]] = []
    if items.message is not None:
        item = items.message
        iid, text = item["id"], reply.content or ""
        where = {"item_id": iid, "output_index": index, "content_index": 0}
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        head.append({"type": "response.output_item.added", "output_index": index,
                     "item": {**item, "status": "in_progress", "content": []}})
        head.append({"type": "response.content_part.added", **where, "part": empty})
        for piece in split_text(text, reply.chunk_size):
            deltas.append({"type": "response.output_text.delta", **where, "delta": piece,
                           "logprobs": []})
        tail.append({"type": "response.output_text.done", **where, "text": text,
                     "logprobs": []})
        tail.append({"type": "response.content_part.done", **where,
                     "part": item["content"][0]})
        tail.append({"type": "response.output_item.done", "output_index": index,
                     "item": item})
        index += 1
    for call in items.calls:
        where = {"item_id": call["id"], "output_index": index}
        tail.append({"type": "response.output_item.added", "output_index": index,
                     "item": {**call, "arguments": "", "status": "in_progress"}})
        for piece in split_text(call["arguments"], reply.chunk_size):
            tail.append({"type": "response.function_call_arguments.delta", **where,
                         "delta": piece})
        tail.append({"type": "response.function_call_arguments.done", **where,
                     "name": call["name"], "arguments": call["arguments"]})
        tail.append({"type": "response.output_item.done", "output_index": index,
                     "item": call})
        index += 1
    final = _envelope(reply, body, name, rid, status, incomplete, items.all(),
                      _usage(reply, body))
    kind = "response.completed" if status == "completed" else "response.incomplete"
    tail.append({"type": kind, "response": final})
    return ResponseEvents(head, deltas, tail)
