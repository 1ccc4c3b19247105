"""The checks `history import` makes before anything is stored: every message and the
conversation's fields have the types talkline stores, or a ConfigError names the message,
the field, what it holds and what it should hold. Nothing is half-imported: the checks run
on the whole file first, and the import is one transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..types import ROLES

if TYPE_CHECKING:
    from ..attachments import Blob

__all__ = ["check_blobs", "check_conversation", "check_message"]

_TEXT_FIELDS = ("name", "tool_call_id", "status", "model", "requested_model",
                "finish_reason", "error", "request_id", "response_id", "reasoning")
_NUMBER_FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens",
                  "cost", "latency", "ttft", "created")


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _bad(where: str, name: str, value: object, want: str) -> ConfigError:
    return ConfigError(f"{where} has {name} as {_kind(value)}: {name} must be {want}. "
                       "Fix the file and import it again; nothing was imported.")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_parts(where: str, content: list[Any]) -> None:
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise _bad(where, f"content[{j}]", part, "an object such as "
                       '{"type": "text", "text": "..."}')
        if not isinstance(part.get("type"), str):
            raise _bad(where, f"content[{j}].type", part.get("type"), "a string")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise _bad(where, f"content[{j}].text", part.get("text"), "a string")


def _check_tool_calls(where: str, calls: object) -> None:
    if not isinstance(calls, list):
        raise _bad(where, "tool_calls", calls, "a list of tool calls")
    for j, call in enumerate(calls):
        name = f"tool_calls[{j}]"
        if not isinstance(call, dict):
            raise _bad(where, name, call, 'an object with "id" and "function"')
        if call.get("id") is not None and not isinstance(call["id"], str):
            raise _bad(where, f"{name}.id", call["id"], "a string")
        fn = call.get("function") if "function" in call else call
        if not isinstance(fn, dict):
            raise _bad(where, f"{name}.function", fn, 'an object with "name" and "arguments"')
        for field in ("name", "arguments"):
            if fn.get(field) is not None and not isinstance(fn[field], str):
                raise _bad(where, f"{name}.function.{field}", fn[field], "a string")


def check_message(item: object, i: int, source: str) -> None:
    """Refuse message `i` (0-based) of `source` unless every field has a storable type."""
    where = f"message {i + 1} in {source}"
    if not isinstance(item, dict) or item.get("role") not in ROLES:
        role = item.get("role") if isinstance(item, dict) else None
        raise ConfigError(f"{where} has no valid role (got {role!r}); "
                          f"roles are {', '.join(ROLES)}.")
    content = item.get("content")
    if isinstance(content, list):
        _check_parts(where, content)
    elif content is not None and not isinstance(content, str):
        raise _bad(where, "content", content, "a string, a list of parts or null")
    if item.get("tool_calls") is not None:
        _check_tool_calls(where, item["tool_calls"])
    for name in _TEXT_FIELDS:
        if item.get(name) is not None and not isinstance(item[name], str):
            raise _bad(where, name, item[name], "a string or null")
    for name in _NUMBER_FIELDS:
        if item.get(name) is not None and not _is_number(item[name]):
            raise _bad(where, name, item[name], "a number or null")
    items = item.get("reasoning_items")
    if items is not None and not (isinstance(items, list)
                                  and all(isinstance(i, dict) for i in items)):
        raise _bad(where, "reasoning_items", items, "a list of objects or null")
    if item.get("params") is not None and not isinstance(item["params"], dict):
        raise _bad(where, "params", item["params"], "an object or null")


def check_conversation(conv: dict[str, Any], source: str) -> None:
    """Refuse a conversation whose title, model, system or params have the wrong type."""
    where = f"the conversation in {source}"
    for name in ("title", "model", "system"):
        if conv.get(name) is not None and not isinstance(conv[name], str):
            raise _bad(where, name, conv[name], "a string or null")
    if conv.get("params") is not None and not isinstance(conv["params"], dict):
        raise _bad(where, "params", conv["params"], "an object or null")


def check_blobs(data: object, messages: list[Any], source: str) -> dict[str, Blob]:
    """The blobs of a version 3 export, each one's bytes checked against its SHA-256, and
    every attachment the messages name present; else a ConfigError, nothing imported."""
    import base64
    import binascii

    from ..attachments import Blob, is_stored, sha256_of

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _bad(f"the export {source}", "blobs", data, "an object of SHA-256: blob")
    out: dict[str, Blob] = {}
    for sha, blob in data.items():
        where = f"blob {sha[:12]}… in {source}"
        if not isinstance(blob, dict) or not isinstance(blob.get("data"), str):
            raise _bad(where, "data", blob.get("data") if isinstance(blob, dict) else blob,
                       "the base64 of the attachment's bytes")
        try:
            raw = base64.b64decode(blob["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{where} is not valid base64; nothing was imported. Export "
                              "the conversation again.") from None
        if sha256_of(raw) != sha:
            raise ConfigError(f"{where} does not match its SHA-256 (the file was changed or "
                              "damaged); nothing was imported. Export the conversation "
                              "again.")
        mime = blob.get("mime")
        out[sha] = Blob(sha, mime if isinstance(mime, str) else "application/octet-stream",
                        raw)
    for i, item in enumerate(messages):
        content = item.get("content") if isinstance(item, dict) else None
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and is_stored(part) and part["blob"] not in out:
                raise ConfigError(
                    f"message {i + 1} in {source} attaches {part.get('name') or 'a file'} "
                    f"(blob {str(part['blob'])[:12]}…), which the file does not hold; "
                    "nothing was imported. Export the conversation again with `talkline "
                    "history export ID --format json`.")
    return out
