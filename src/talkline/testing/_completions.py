"""How the scripted server answers `POST /v1/completions`: the same `Reply`, `Error` and
`Fault` actions as for chat, each chat object it would send rewritten into the text
completions dialect (`text_completion` objects and chunks: `choices[].text`), with `echo`
(the prompt before the text) and `logprobs` (one made-up entry per piece) honoured.
`owner.completions_api = False` makes it a server that serves no completions for the
model: 404 with OpenAI's words for a chat model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._actions import Error
from ._render import split_text
from ._responses import Responder

__all__ = ["CHAT_MODEL_404", "CompletionsResponder", "text_chunk", "text_object"]

CHAT_MODEL_404 = ("This is a chat model and not supported in the v1/completions endpoint. "
                  "Did you mean to use v1/chat/completions?")


def _logprobs(text: str, body: Mapping[str, Any], offset: int = 0) -> dict[str, Any] | None:
    n = body.get("logprobs")
    if not isinstance(n, int) or isinstance(n, bool):
        return None
    pieces = split_text(text, None)
    offsets, at = [], offset
    for piece in pieces:
        offsets.append(at)
        at += len(piece)
    return {"tokens": pieces, "token_logprobs": [-0.25] * len(pieces),
            "top_logprobs": [{p: -0.25} for p in pieces] if n else None,
            "text_offset": offsets}


def _prompt(body: Mapping[str, Any]) -> str:
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def text_object(chat: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """A whole `chat.completion` as the `text_completion` a completions server sends."""
    out = {k: v for k, v in chat.items() if k not in ("choices", "service_tier")}
    out["object"] = "text_completion"
    out["id"] = str(chat.get("id", "")).replace("chatcmpl-", "cmpl-")
    echo = _prompt(body) if body.get("echo") is True else ""
    choices = []
    for choice in chat.get("choices") or ():
        text = echo + str((choice.get("message") or {}).get("content") or "")
        choices.append({"text": text, "index": choice.get("index", 0),
                        "logprobs": _logprobs(text, body),
                        "finish_reason": choice.get("finish_reason")})
    out["choices"] = choices
    return out


def text_chunk(chunk: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """One `chat.completion.chunk` as a streamed `text_completion` event (a role chunk
    carries the echoed prompt, or no text)."""
    out = {k: v for k, v in chunk.items() if k not in ("choices", "service_tier")}
    out["object"] = "text_completion"
    out["id"] = str(chunk.get("id", "")).replace("chatcmpl-", "cmpl-")
    choices = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        text = str(delta.get("content") or "")
        if "role" in delta and body.get("echo") is True:
            text = _prompt(body) + text
        choices.append({"text": text, "index": choice.get("index", 0),
                        "logprobs": _logprobs(text, body) if text else None,
                        "finish_reason": choice.get("finish_reason")})
    out["choices"] = choices
    return out


class CompletionsResponder(Responder):
    """The `/v1/completions` half of the handler: it runs the chat half's `_perform` with
    the prompt as the user message, and rewrites what that sends."""

    _text_body: Mapping[str, Any] | None = None

    def _completions(self, body: Any) -> None:
        if not self.owner.completions_api:
            self._send_error(Error(404, CHAT_MODEL_404, "invalid_request_error",
                                   "invalid_model"), counted=True)
            return
        for name in ("model", "prompt"):
            if not isinstance(body, Mapping) or name not in body:
                self._send_error(Error(400, f"Missing required parameter: '{name}'.",
                                       "invalid_request_error", "missing_required_parameter",
                                       name), counted=True)
                return
        chat = {**body, "messages": [{"role": "user", "content": _prompt(body)}]}
        self._text_body = body
        self._perform(self.owner.next_action(chat), chat)  # type: ignore[attr-defined]

    def _event(self, obj: Any, reply: Any) -> None:
        if self._text_body is not None and isinstance(obj, Mapping) and "choices" in obj:
            obj = text_chunk(obj, self._text_body)
        super()._event(obj, reply)

    def _send_json(self, status: int, obj: Any, extra: Mapping[str, str] | None = None
                   ) -> None:
        if self._text_body is not None and isinstance(obj, Mapping) and "choices" in obj:
            obj = text_object(obj, self._text_body)
        super()._send_json(status, obj, extra)
