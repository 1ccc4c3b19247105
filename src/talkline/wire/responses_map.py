"""A chat request as a Responses API body (pure, no I/O): `responses_body`.

Messages become `input` items: system and developer messages the `instructions` (joined),
user messages text or `input_text` parts (images `input_image`, PDFs `input_file`),
assistant messages their text, an assistant's tool calls `function_call` items and tool results
`function_call_output` items (by `call_id`). An assistant message's `reasoning_items`
(encrypted reasoning of an earlier turn) go back before its content. Parameters map to
their names here (`max_output_tokens`, `reasoning`, `text.format`, flat function tools);
a chat-only parameter with no equivalent is refused with a message that names it.

`store` is false unless asked (`server_state`), and then only what follows the last
answer of this API is sent, with its id as `previous_response_id`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ParamError
from ..types import ChatParams, Message

__all__ = ["CHAT_ONLY", "responses_body"]

# Chat Completions parameters the Responses API has no equivalent for.
CHAT_ONLY = ("n", "stop", "presence_penalty", "frequency_penalty", "seed", "logit_bias",
             "logprobs", "top_logprobs", "modalities", "audio", "prediction",
             "web_search_options")
MIN_OUTPUT_TOKENS = 16  # the official schema's minimum of max_output_tokens
_KEPT = ("temperature", "top_p", "parallel_tool_calls", "service_tier", "metadata",
         "safety_identifier", "prompt_cache_key", "user")


def _refuse(name: str, why: str = "has no equivalent on the Responses API") -> ParamError:
    return ParamError(f"{name} {why}: leave it out, or use --api chat",
                      hint="The chat API (--api chat, or api = \"chat\" in config.toml) "
                           "takes every chat parameter.")


def _text(message: Message) -> str:
    return message.text if isinstance(message.content, list) else (message.content or "")


def _part(part: Mapping[str, Any], role: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": str(part.get("text", ""))}
    if kind == "image_url":
        image = part.get("image_url") or {}
        out = {"type": "input_image", "image_url": str(image.get("url", "")),
               "detail": str(image.get("detail") or "auto")}
        return out
    if kind == "file":
        file = part.get("file") or {}
        sent: dict[str, Any] = {"type": "input_file"}
        for name in ("file_data", "filename", "file_id"):
            if file.get(name):
                sent[name] = str(file[name])
        return sent
    if kind == "input_audio":
        raise _refuse("an audio attachment", "cannot be sent: the Responses API takes no "
                      "audio input")
    raise ParamError(f"a content part of type {kind!r} cannot be sent on the Responses API",
                     hint="Use --api chat.")


def _message_items(message: Message) -> list[dict[str, Any]]:
    role = message.role
    items: list[dict[str, Any]] = []
    if role == "assistant":
        items.extend(dict(item) for item in message.reasoning_items)
    if role == "tool":
        return [{"type": "function_call_output", "call_id": message.tool_call_id or "",
                 "output": _text(message)}]
    # Text goes as a string: the official schema's `input` is a oneOf under which a list
    # of parts is both an EasyInputMessage and an InputMessage; an assistant's earlier
    # text has no `output_text` form without the server's message id.
    if role == "assistant":
        if message.text:
            items.append({"role": "assistant", "content": message.text})
    elif isinstance(message.content, list):
        parts = [_part(p, role) for p in message.content]
        if parts:
            items.append({"role": "user", "content": parts})
    elif message.content:
        items.append({"role": "user", "content": message.content})
    for call in message.tool_calls:
        items.append({"type": "function_call", "call_id": call.id, "name": call.name,
                      "arguments": call.arguments})
    return items


def _since_last_answer(messages: Sequence[Message]) -> tuple[str | None, list[Message]]:
    """The id of the last answer of this API and the messages after it."""
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if message.role == "assistant" and message.response_id:
            return message.response_id, list(messages[i + 1:])
    return None, list(messages)


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function" or "function" not in tool:
        return dict(tool)  # already this API's shape (or a built-in tool)
    fn = dict(tool["function"])
    out: dict[str, Any] = {"type": "function", "name": fn.get("name", "")}
    if fn.get("description"):
        out["description"] = fn["description"]
    out["parameters"] = fn.get("parameters") or {"type": "object", "properties": {}}
    out["strict"] = bool(fn.get("strict", False))
    return out


def _tool_choice(choice: str | Mapping[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, str):
        return choice
    fn = choice.get("function")
    if choice.get("type") == "function" and isinstance(fn, Mapping):
        return {"type": "function", "name": fn.get("name", "")}
    return dict(choice)


def _format(response_format: Mapping[str, Any]) -> dict[str, Any]:
    kind = response_format.get("type")
    if kind != "json_schema":
        return {"type": str(kind)}
    spec = dict(response_format.get("json_schema") or {})
    out: dict[str, Any] = {"type": "json_schema", "name": spec.get("name") or "answer",
                           "schema": spec.get("schema") or {}}
    if "strict" in spec:
        out["strict"] = bool(spec["strict"])
    if spec.get("description"):
        out["description"] = spec["description"]
    return out


def _params(body: dict[str, Any], p: ChatParams, reasoning: bool) -> None:
    for name in CHAT_ONLY:
        value = getattr(p, name)
        if value is not None and not (name == "n" and value == 1) and not (
                name == "logprobs" and value is False):
            raise _refuse(name if name != "n" else f"n={value}")
    for name in _KEPT:
        value = getattr(p, name)
        if value is not None:
            body[name] = dict(value) if isinstance(value, Mapping) else value
    limit = p.max_completion_tokens or p.max_tokens
    if limit is not None:
        if limit < MIN_OUTPUT_TOKENS:
            raise ParamError(f"max tokens {limit} is below the Responses API's least, "
                             f"{MIN_OUTPUT_TOKENS}: ask for --max-tokens "
                             f"{MIN_OUTPUT_TOKENS} or more, or use --api chat")
        body["max_output_tokens"] = limit
    if p.reasoning_effort is not None or reasoning:
        body["reasoning"] = {"summary": "auto"}
        if p.reasoning_effort is not None:
            body["reasoning"]["effort"] = p.reasoning_effort
    text: dict[str, Any] = {}
    if p.response_format is not None:
        text["format"] = _format(p.response_format)
    if p.verbosity is not None:
        text["verbosity"] = p.verbosity
    if text:
        body["text"] = text
    if p.tools:
        body["tools"] = [_tool(t) for t in p.tools]
    if p.tool_choice is not None:
        body["tool_choice"] = _tool_choice(p.tool_choice)


def responses_body(messages: Sequence[Message], params: ChatParams, *, stream: bool,
                   server_state: bool = False, reasoning: bool = False) -> dict[str, Any]:
    """The exact JSON body sent to `/responses`. `reasoning`: ask for a reasoning
    summary (and the encrypted reasoning) even without `reasoning_effort` (the catalog
    marks the model as a reasoning model)."""
    previous, sent = _since_last_answer(messages) if server_state else (None, list(messages))
    instructions = [_text(m) for m in messages if m.role in ("system", "developer")]
    items: list[dict[str, Any]] = []
    for message in sent:
        if message.role not in ("system", "developer"):
            items.extend(_message_items(message))
    body: dict[str, Any] = {"model": params.model or "", "input": items}
    if any(instructions):
        body["instructions"] = "\n\n".join(t for t in instructions if t)
    if previous is not None:
        body["previous_response_id"] = previous
    _params(body, params, reasoning)
    store = params.store if params.store is not None else server_state
    body["store"] = store
    if not store and "reasoning" in body:
        body["include"] = ["reasoning.encrypted_content"]
    if stream:
        body["stream"] = True
    if params.extra_body:
        body.update(params.extra_body)
    return body
