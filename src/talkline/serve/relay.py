"""A stream relayed as it arrives: each upstream event sent on unchanged (`ChatDelta.raw`:
every field the upstream sent, reasoning fields included), then `[DONE]`.

Retries and a stream that breaks: the client core retries a failure before any content
came (a 429, a refused connection, a 5xx) out of sight: the client just waits a little
longer. Once content went out it cannot be taken back, so a stream that breaks after that
is not restarted (`resume=False`): the client gets an error event in the OpenAI shape
(`data: {"error": {...}}` on Chat Completions, an `error` event on the Responses API)
and no `[DONE]`, and the exchange is stored as interrupted with the text relayed so far.

A client that disconnects cancels the relay (starlette's disconnect watch cancels this
generator) and closing the client core's stream closes the upstream connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio

from ..client import AsyncChatStream
from ..errors import TalklineError
from ..types import ChatDelta
from .errors import from_talkline

__all__ = ["Outcome", "relay"]


class Outcome:
    """What came of a relayed stream, for the store."""

    def __init__(self) -> None:
        self.status = "complete"
        self.error: str | None = None
        self.text: list[str] = []


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def chat_event(delta: ChatDelta, include_usage: bool) -> bytes | None:
    raw = delta.raw
    if raw is None:
        return None
    if not include_usage and not raw.get("choices") and raw.get("usage") is not None:
        return None  # the usage chunk the gateway asked for, not the client
    return f"data: {_dumps(raw)}\n\n".encode()


def responses_event(delta: ChatDelta, include_usage: bool) -> bytes | None:
    raw = delta.raw
    if raw is None:
        return None
    return f"event: {raw.get('type', 'message')}\ndata: {_dumps(raw)}\n\n".encode()


def _error_event(exc: TalklineError, server: str, responses: bool) -> bytes:
    err = from_talkline(exc, server)
    if responses:
        body = {"type": "error", "code": err.code or err.type, "message": err.message,
                "param": err.param}
        return f"event: error\ndata: {_dumps(body)}\n\n".encode()
    body2 = {"error": {"message": err.message, "type": err.type, "param": err.param,
                       "code": err.code}}
    return f"data: {_dumps(body2)}\n\n".encode()


async def relay(stream: AsyncChatStream, first: ChatDelta | None, *, server: str,
                responses: bool, include_usage: bool, outcome: Outcome
                ) -> AsyncIterator[bytes]:
    """The bytes of the stream, `first` (already read, so errors before it got their
    status) then the rest; `outcome` says how it ended. The client core's stream is
    closed whatever happened (shielded from the cancellation of a client that left)."""
    encode = responses_event if responses else chat_event
    try:
        delta = first
        iterator = stream.__aiter__()
        while delta is not None:
            outcome.text.append(delta.content)
            event = encode(delta, include_usage)
            if event is not None:
                yield event
            try:
                delta = await iterator.__anext__()
            except StopAsyncIteration:
                delta = None
        if not responses:
            yield b"data: [DONE]\n\n"
    except TalklineError as exc:
        outcome.status, outcome.error = "interrupted", exc.message
        yield _error_event(exc, server, responses)
    except BaseException:
        outcome.status, outcome.error = "interrupted", "the client disconnected"
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
