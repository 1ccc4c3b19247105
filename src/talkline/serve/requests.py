"""A client's request body, checked and mapped to what the client core takes: the
messages as they are and one `ChatParams`. Everything wrong is a `GatewayError` 400 (413
for a body over the limit) whose message says what to send instead.

`POST /v1/chat/completions` takes the Chat Completions body. `POST /v1/responses` takes
the Responses API's `input` (a string, or a list of messages and message-like items) and
`instructions`; the client core sends it on with the Responses dialect of the wire.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ..errors import TalklineError
from ..types import ChatParams, Message
from .errors import GatewayError

__all__ = ["ClientRequest", "read_body", "chat_request", "responses_request"]

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# Body fields the gateway handles itself, never sent on as request parameters.
_OWN = ("messages", "stream", "stream_options", "input", "instructions")
# Responses API fields that are chat parameters under another name.
_RESPONSES_RENAMED = {"max_output_tokens": "max_completion_tokens"}
_RESPONSES_DROPPED = ("text", "reasoning", "previous_response_id", "include", "truncation",
                      "background")


@dataclass(frozen=True)
class ClientRequest:
    """What one client asked: the messages, the parameters (model included), whether to
    stream, and whether it wants the usage chunk of a stream."""

    messages: tuple[Message, ...]
    params: ChatParams
    stream: bool
    include_usage: bool

    @property
    def model(self) -> str:
        return str(self.params.model)


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param)


async def read_body(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, read up to `limit` bytes (413 beyond it)."""
    declared = request.headers.get("content-length")
    too_big = GatewayError(
        413, f"the request body is larger than the gateway's limit of {limit} bytes: "
        "send fewer or shorter messages, or smaller attachments.", code="request_too_large")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _bad("the request body is not JSON: send a JSON object such as "
                   '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]} '
                   "with Content-Type: application/json") from None
    if not isinstance(data, dict):
        raise _bad(f"the request body must be a JSON object, not a JSON {type(data).__name__}")
    return data


def _model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _bad("'model' is required: a model name such as \"gpt-4o-mini\" or \"local\" "
                   "(GET /v1/models lists them)", "model")
    return model


def _message(item: Any, where: str) -> Message:
    if not isinstance(item, dict):
        raise _bad(f"{where} must be an object with 'role' and 'content'", where)
    role = item.get("role")
    if role not in ROLES:
        raise _bad(f"{where}.role must be one of {', '.join(ROLES)}; got {role!r}", where)
    content = item.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise _bad(f"{where}.content must be a string or a list of content parts", where)
    return Message.from_dict(item)


def _params(body: Mapping[str, Any], model: str) -> ChatParams:
    fields = {k: v for k, v in body.items() if k not in _OWN}
    fields["model"] = model
    try:
        return ChatParams.from_dict(fields)
    except TalklineError as exc:
        raise _bad(exc.message) from None
    except TypeError:
        raise _bad("a request parameter has a value of the wrong type") from None


def _stream(body: Mapping[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise _bad("'stream' must be true or false", "stream")
    options = body.get("stream_options")
    include = isinstance(options, dict) and options.get("include_usage") is True
    return bool(stream), include


def chat_request(body: Mapping[str, Any]) -> ClientRequest:
    """A Chat Completions body."""
    model = _model(body)
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise _bad("'messages' is required: a non-empty list such as "
                   '[{"role": "user", "content": "Hi"}]', "messages")
    messages = tuple(_message(m, f"messages[{i}]") for i, m in enumerate(raw))
    stream, include = _stream(body)
    return ClientRequest(messages, _params(body, model), stream, include)


def _input_items(value: Any) -> list[Message]:
    if isinstance(value, str) and value:
        return [Message("user", value)]
    if not isinstance(value, list) or not value:
        raise _bad("'input' is required: a string, or a non-empty list of messages such as "
                   '[{"role": "user", "content": "Hi"}]', "input")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict) and item.get("type", "message") == "message":
            content = item.get("content")
            if isinstance(content, list):  # input_text parts become text parts
                texts = [p.get("text") for p in content if isinstance(p, dict)]
                if any(not isinstance(t, str) for t in texts):
                    raise _bad(f"input[{i}].content: only text parts are relayed", "input")
                item = {**item, "content": "".join(str(t) for t in texts)}
            out.append(_message({k: v for k, v in item.items() if k != "type"}, f"input[{i}]"))
        else:
            kind = item.get("type") if isinstance(item, dict) else type(item).__name__
            raise _bad(f"input[{i}] is a {kind!r} item: the gateway relays message items "
                       "(role and content) only", "input")
    return out


def responses_request(body: Mapping[str, Any]) -> ClientRequest:
    """A Responses API body, as the messages and parameters the client core sends on
    with the Responses dialect."""
    model = _model(body)
    messages = _input_items(body.get("input"))
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _bad("'instructions' must be a string", "instructions")
        messages.insert(0, Message("system", instructions))
    fields = {_RESPONSES_RENAMED.get(k, k): v for k, v in body.items()
              if k not in _RESPONSES_DROPPED}
    effort = body.get("reasoning")
    if isinstance(effort, dict) and isinstance(effort.get("effort"), str):
        fields["reasoning_effort"] = effort["effort"]
    stream, _ = _stream(body)
    return ClientRequest(tuple(messages), _params(fields, model), stream, False)
