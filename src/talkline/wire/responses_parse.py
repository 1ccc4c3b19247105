"""The Responses API's `response` object, checked and turned into a `ChatResponse` (pure).

The same rules as the one parser (`parse`): missing and `null` fields take their defaults,
a field of the wrong type raises `ResponseFormatError` naming its path
(`output[1].call_id`), every text is made storable. A `failed` response raises the API
error it carries; `incomplete` becomes the finish reason `length` (the output token
limit, `max_output_tokens`) or `content_filter`, as on the chat endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import APIError
from ..types import ChatResponse, Choice, Message, ToolCall, Usage
from ..types.text import clean_value
from .parse import MAX_TOKENS, _error, _int, _list, _obj, _str
from .redact import Redactor
from .status_errors import error_from_event

__all__ = ["failed_error", "finish_reason", "output_parts", "parse_response",
           "parse_response_usage"]

_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def parse_response_usage(value: Any, path: str = "usage") -> Usage | None:
    """`input_tokens`, `output_tokens` and their details as a `Usage` (prompt, completion,
    cached, reasoning), so costs are priced as for chat."""
    if value is None:
        return None
    data = _obj(value, path, optional=False)
    prompt = _int(data.get("input_tokens"), f"{path}.input_tokens", MAX_TOKENS) or 0
    completion = _int(data.get("output_tokens"), f"{path}.output_tokens", MAX_TOKENS) or 0
    total = _int(data.get("total_tokens"), f"{path}.total_tokens", MAX_TOKENS)
    ind = _obj(data.get("input_tokens_details"), f"{path}.input_tokens_details")
    outd = _obj(data.get("output_tokens_details"), f"{path}.output_tokens_details")
    cached = _int(ind.get("cached_tokens"), f"{path}.input_tokens_details.cached_tokens",
                  MAX_TOKENS) or 0
    reasoning = _int(outd.get("reasoning_tokens"),
                     f"{path}.output_tokens_details.reasoning_tokens", MAX_TOKENS) or 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=total if total is not None else prompt + completion,
                 cached_tokens=cached, reasoning_tokens=reasoning)


def finish_reason(status: str | None, incomplete: Any, has_calls: bool) -> str:
    """The chat finish reason a response's status stands for."""
    if status == "incomplete":
        reason = _str(_obj(incomplete, "incomplete_details").get("reason"),
                      "incomplete_details.reason")
        return _INCOMPLETE.get(reason or "", "length")
    return "tool_calls" if has_calls else "stop"


def failed_error(data: Mapping[str, Any], *, request_id: str | None,
                 redactor: Redactor | None) -> APIError:
    """The error of a `failed` response (a server error unless its code says otherwise)."""
    err = _obj(data.get("error"), "error")
    message = _str(err.get("message"), "error.message") or "the response failed"
    code = _str(err.get("code"), "error.code")
    event: dict[str, Any] = {"message": message, "code": code}
    if code in (None, "server_error", "rate_limit_exceeded") or code == "":
        event["type"] = "server_error" if code != "rate_limit_exceeded" else "requests"
    else:
        event["type"] = "invalid_request_error"
    return error_from_event(event, request_id=request_id, redactor=redactor)


def _summary(item: Mapping[str, Any], path: str) -> str:
    texts = []
    for j, part in enumerate(_list(item.get("summary"), f"{path}.summary")):
        part = _obj(part, f"{path}.summary[{j}]", optional=False)
        texts.append(_str(part.get("text"), f"{path}.summary[{j}].text") or "")
    return "\n\n".join(t for t in texts if t)


def output_parts(output: Any, path: str = "output"
                 ) -> tuple[str, list[ToolCall], str, list[dict[str, Any]]]:
    """(text, function calls, reasoning summary, reasoning items) of a response's output."""
    text: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[str] = []
    items: list[dict[str, Any]] = []
    for i, raw in enumerate(_list(output, path)):
        where = f"{path}[{i}]"
        item = dict(_obj(raw, where, optional=False))
        kind = _str(item.get("type"), f"{where}.type")
        if kind == "message":
            for j, part in enumerate(_list(item.get("content"), f"{where}.content")):
                part = _obj(part, f"{where}.content[{j}]", optional=False)
                if part.get("type") == "output_text":
                    text.append(_str(part.get("text"), f"{where}.content[{j}].text") or "")
        elif kind == "function_call":
            call_id = _str(item.get("call_id"), f"{where}.call_id")
            name = _str(item.get("name"), f"{where}.name")
            if not call_id or not name:
                raise _error(where, "as a function call without its call_id or name")
            args = _str(item.get("arguments"), f"{where}.arguments") or ""
            calls.append(ToolCall(id=call_id, name=name, arguments=args))
        elif kind == "reasoning":
            _str(item.get("id"), f"{where}.id")
            _str(item.get("encrypted_content"), f"{where}.encrypted_content")
            summary = _summary(item, where)
            if summary:
                reasoning.append(summary)
            items.append(reasoning_input(item))
    return "".join(text), calls, "\n\n".join(reasoning), items


def reasoning_input(item: Mapping[str, Any]) -> dict[str, Any]:
    """A reasoning output item as it is sent back as input (no status)."""
    out: dict[str, Any] = {"type": "reasoning", "id": item.get("id") or "",
                           "summary": [{"type": "summary_text", "text": str(p.get("text", ""))}
                                       for p in item.get("summary") or ()
                                       if isinstance(p, Mapping)]}
    if item.get("encrypted_content"):
        out["encrypted_content"] = item["encrypted_content"]
    return out


def parse_response(data: Any, *, request_id: str | None = None,
                   redactor: Redactor | None = None) -> ChatResponse:
    """A whole `response` object as a `ChatResponse` with one choice."""
    top = dict(clean_value(_obj(data, "its top level", optional=False)))
    rid = _str(top.get("id"), "id") or ""
    status = _str(top.get("status"), "status")
    if status == "failed":
        raise failed_error(top, request_id=request_id, redactor=redactor)
    text, calls, reasoning, items = output_parts(top.get("output"))
    created = top.get("created_at")
    created = int(created) if isinstance(created, (int, float)) and created >= 0 else 0
    message = Message("assistant", text if text or not calls else None,
                      tool_calls=tuple(calls), reasoning=reasoning or None,
                      reasoning_items=tuple(items), response_id=rid or None)
    choice = Choice(index=0, message=message,
                    finish_reason=finish_reason(status, top.get("incomplete_details"),
                                                bool(calls)))
    return ChatResponse(id=rid, model=_str(top.get("model"), "model") or "",
                        choices=(choice,), usage=parse_response_usage(top.get("usage")),
                        created=created, object="response", request_id=request_id,
                        raw=top)
