"""The one parser of what a server sends: every chat answer, stream chunk, models list and
Batch API object passes through here before talkline uses it.

Missing and `null` fields take their defaults; a field of the wrong type or out of range
raises `ResponseFormatError` naming its path (`choices[0].message`), never a TypeError
deep inside talkline. Every text is made storable: lone surrogates (`"\\ud800"`, valid
JSON but not UTF-8) become U+FFFD, so what is shown is what is stored.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ResponseFormatError
from ..types import ROLES, ChatDelta, ChatResponse
from ..types.text import clean_text, clean_value
from .redact import Redactor
from .think import split_think

__all__ = ["MAX_TOKENS", "batch_page", "clean_text", "clean_value", "kind",
           "parse_batch_object", "redacted",
           "parse_chat_response", "parse_chunk", "parse_list", "parse_models"]

# A token count above this is not a count: 1e9 tokens is a thousand times any window.
MAX_TOKENS = 10**9
_MAX_INDEX = 10**6
_MAX_CREATED = 2**53
_HINT = ("Check that the base URL points at an OpenAI-compatible server (it usually "
         "ends in /v1), or report this answer to whoever runs that server.")


def redacted(exc: ResponseFormatError, redactor: Redactor) -> ResponseFormatError:
    """`exc` with the key out of its message (a value quoted from the answer may hold it)."""
    exc.message = redactor.text(exc.message)
    exc.args = (exc.message,)
    return exc


def kind(value: Any) -> str:
    """`a string`, `an object`, ...: what a JSON value is, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _error(path: str, what: str) -> ResponseFormatError:
    return ResponseFormatError(f"the server's answer has {path} {what}", hint=_HINT,
                               status=200)


def _wrong(path: str, value: Any, want: str) -> ResponseFormatError:
    return _error(path, f"as {kind(value)}, not {want}")


def _obj(value: Any, path: str, *, optional: bool = True) -> dict[str, Any]:
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise _wrong(path, value, "an object")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong(path, value, "a list")
    return value


def _str(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong(path, value, "a string")
    return clean_text(value)


def _int(value: Any, path: str, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong(path, value, "a whole number")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise _error(path, f"= {value!r}, not a whole number")
    if not 0 <= value <= high:
        raise _error(path, f"= {value!r}, not a whole number from 0 to {high}")
    return int(value)


def _usage(value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    data = dict(_obj(value, path, optional=False))
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        data[name] = _int(data.get(name), f"{path}.{name}", MAX_TOKENS)
    for details, name in (("prompt_tokens_details", "cached_tokens"),
                          ("completion_tokens_details", "reasoning_tokens")):
        if data.get(details) is None:
            continue
        inner = dict(_obj(data.get(details), f"{path}.{details}"))
        inner[name] = _int(inner.get(name), f"{path}.{details}.{name}", MAX_TOKENS)
        data[details] = inner
    return data


def _tool_call(value: Any, path: str, *, delta: bool) -> dict[str, Any]:
    data = dict(_obj(value, path, optional=False))
    data["id"] = _str(data.get("id"), f"{path}.id")
    data["type"] = _str(data.get("type"), f"{path}.type")
    if delta:
        data["index"] = _int(data.get("index"), f"{path}.index", _MAX_INDEX)
    fn = dict(_obj(data.get("function"), f"{path}.function"))
    fn["name"] = _str(fn.get("name"), f"{path}.function.name")
    args = fn.get("arguments")
    if args is not None and not isinstance(args, str):
        raise _wrong(f"{path}.function.arguments", args, "a string")
    data["function"] = fn
    return data


def _content(value: Any, path: str) -> str | list[dict[str, Any]] | None:
    if value is None or isinstance(value, str):
        return _str(value, path)
    if isinstance(value, list):
        for i, part in enumerate(value):
            _obj(part, f"{path}[{i}]", optional=False)
        return value
    raise _wrong(path, value, "a string")


# Where chat servers put reasoning text: DeepSeek, vLLM and llama.cpp's server send
# `reasoning_content`, OpenRouter `reasoning` (its `reasoning_details` repeat that text,
# or hold the provider's own encrypted blocks: they are ignored). A server that sends both
# names (vLLM did while renaming one to the other) sends the same text twice: the first
# one given is taken.
REASONING_FIELDS = ("reasoning_content", "reasoning")


def _reasoning(data: dict[str, Any], path: str) -> str:
    """The reasoning fields' text (the first given); each field taken out of `data`."""
    texts = [_str(data.pop(name, None), f"{path}.{name}") for name in REASONING_FIELDS]
    return next((t for t in texts if t), "")


def _message(value: Any, path: str) -> dict[str, Any]:
    data = dict(_obj(value, path))
    role = _str(data.get("role"), f"{path}.role") or "assistant"
    if role not in ROLES:
        raise _error(f"{path}.role", f"= {role!r}, not one of {', '.join(ROLES)}")
    data["role"] = role
    data["content"] = _content(data.get("content"), f"{path}.content")
    reasoning = _reasoning(data, path)
    if isinstance(data["content"], str) and role == "assistant":
        inline, data["content"] = split_think(data["content"])
        reasoning += inline
    data["reasoning"] = reasoning or None
    data["refusal"] = _str(data.get("refusal"), f"{path}.refusal")
    data["name"] = _str(data.get("name"), f"{path}.name")
    data["tool_call_id"] = _str(data.get("tool_call_id"), f"{path}.tool_call_id")
    calls = _list(data.get("tool_calls"), f"{path}.tool_calls")
    data["tool_calls"] = [_tool_call(t, f"{path}.tool_calls[{i}]", delta=False)
                          for i, t in enumerate(calls)]
    return data


def _top(data: Any) -> dict[str, Any]:
    top = dict(clean_value(_obj(data, "its top level", optional=False)))
    for name in ("id", "object", "model", "system_fingerprint", "service_tier"):
        top[name] = _str(top.get(name), name)
    created = top.get("created")
    if isinstance(created, float) and math.isfinite(created) and created >= 0:
        created = int(created)  # some servers send seconds with a fraction
    top["created"] = _int(created, "created", _MAX_CREATED)
    top["usage"] = _usage(top.get("usage"), "usage")
    return top


def parse_chat_response(data: Any, *, request_id: str | None = None,
                        require_choice: bool = True) -> ChatResponse:
    """A `chat.completion` object as a `ChatResponse`. `require_choice`: an answer with
    no choices is an error (it has nothing to show or store)."""
    top = _top(data)
    choices = []
    for i, raw in enumerate(_list(top.get("choices"), "choices")):
        path = f"choices[{i}]"
        choice = dict(_obj(raw, path, optional=False))
        choice["index"] = _int(choice.get("index"), f"{path}.index", _MAX_INDEX)
        choice["message"] = _message(choice.get("message"), f"{path}.message")
        choice["finish_reason"] = _str(choice.get("finish_reason"), f"{path}.finish_reason")
        choices.append(choice)
    if require_choice and not choices:
        raise _error("choices", "empty: no answer came back")
    top["choices"] = choices
    return ChatResponse.from_dict(top, request_id=request_id)


def parse_chunk(data: Any) -> list[ChatDelta]:
    """One `chat.completion.chunk` as its deltas (several when n > 1)."""
    top = _top(data)
    choices = []
    for i, raw in enumerate(_list(top.get("choices"), "choices")):
        path = f"choices[{i}]"
        choice = dict(_obj(raw, path, optional=False))
        choice["index"] = _int(choice.get("index"), f"{path}.index", _MAX_INDEX)
        choice["finish_reason"] = _str(choice.get("finish_reason"), f"{path}.finish_reason")
        delta = dict(_obj(choice.get("delta"), f"{path}.delta"))
        for name in ("role", "content", "refusal"):
            delta[name] = _str(delta.get(name), f"{path}.delta.{name}")
        delta["reasoning"] = _reasoning(delta, f"{path}.delta")
        calls = _list(delta.get("tool_calls"), f"{path}.delta.tool_calls")
        delta["tool_calls"] = [_tool_call(t, f"{path}.delta.tool_calls[{j}]", delta=True)
                               for j, t in enumerate(calls)]
        choice["delta"] = delta
        choices.append(choice)
    top["choices"] = choices
    return ChatDelta.from_chunk(top)


def parse_list(data: Any, what: str) -> list[dict[str, Any]]:
    """A list answer's items (`{"data": [...]}`, or a bare list as some servers send)."""
    items = data.get("data") if isinstance(data, dict) else data
    if isinstance(data, dict) and "data" not in data:
        raise _error("no data", f"(a list of {what} was expected)")
    if not isinstance(items, list):
        raise _wrong("data", items, f"a list of {what}")
    for i, item in enumerate(items):
        _obj(item, f"data[{i}]", optional=False)
    return clean_value(items)  # type: ignore[no-any-return]


def parse_models(data: Any) -> list[dict[str, Any]]:
    """A models list: objects with a string `id` (other fields kept as sent)."""
    items = parse_list(data, "models")
    for i, item in enumerate(items):
        if _str(item.get("id"), f"data[{i}].id") is None:
            raise _error(f"data[{i}]", "without an id")
    return items


def parse_batch_object(data: Any, what: str = "batch") -> dict[str, Any]:
    """A Batch API object (a batch or a file): a string `id` and `status`, and text
    fields that can be stored; the rest kept as sent."""
    obj = dict(clean_value(_obj(data, "its top level", optional=False)))
    if not _str(obj.get("id"), "id"):
        raise _error("no id", f"(a {what} object was expected)")
    for name in ("status", "object", "input_file_id", "output_file_id", "error_file_id"):
        obj[name] = _str(obj.get(name), name)
    counts = obj.get("request_counts")
    if counts is not None:
        counts = dict(_obj(counts, "request_counts"))
        for name in ("total", "completed", "failed"):
            counts[name] = _int(counts.get(name), f"request_counts.{name}", MAX_TOKENS)
        obj["request_counts"] = counts
    return obj


def batch_page(data: Any) -> list[dict[str, Any]]:
    """One page of `GET /batches`."""
    return [parse_batch_object(b) for b in parse_list(data, "batches")]
