"""The chat completions endpoint: `POST /chat/completions`, whole or streamed.

`StreamDecoder` turns the bytes of a stream into `ChatDelta`s and knows when the stream
is complete (pure); `complete`/`stream` and their async twins send one attempt through a
connection. What they send is any `ChatCall` (the backends' `ChatRequest` is one).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import aclosing, closing
from typing import Any, Protocol

from ..errors import APIConnectionError, APIError, ServerError, StreamInterrupted
from ..types import ChatDelta, ChatResponse
from .accumulate import StreamAccumulator
from .connection import AsyncConnection, Connection, ConnectionCore, HeadersCallback
from .redact import Redactor
from .sse import SSEDecoder
from .status_errors import error_from_event

__all__ = ["ChatCall", "StreamDecoder", "acomplete", "astream", "complete", "stream"]

PATH = "chat/completions"


class ChatCall(Protocol):
    """One chat request as the endpoint needs it."""

    @property
    def model(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def on_headers(self) -> HeadersCallback | None: ...

    def to_body(self, *, stream: bool) -> dict[str, Any]: ...


class StreamDecoder:
    """Bytes of a chat stream in, `ChatDelta`s out; knows when a stream is complete."""

    def __init__(self, *, model: str = "", request_id: str | None = None,
                 redactor: Redactor | None = None) -> None:
        self._sse = SSEDecoder()
        self._redactor = redactor
        self._answer = redactor.answer() if redactor else None
        self.acc = StreamAccumulator(model=model)
        self.done = False
        self.request_id = request_id

    def feed(self, text: str) -> list[ChatDelta]:
        if self.done:
            return []
        out: list[ChatDelta] = []
        for event in self._sse.feed(text):
            data = event.data.strip()
            if data == "[DONE]":
                self.done = True
                break
            if not data:
                continue
            try:
                chunk = json.loads(data)
            except ValueError:
                shown = self._redactor.text(data[:80]) if self._redactor else data[:80]
                raise self.interrupted(
                    ServerError(f"the server sent a stream event that is not JSON: {shown!r}")
                ) from None
            if not isinstance(chunk, dict):
                continue
            if self._answer is not None:
                chunk = self._answer.value(chunk)
            if chunk.get("error"):
                err = chunk["error"]
                cause = error_from_event(
                    err if isinstance(err, dict) else {"message": str(err)},
                    request_id=self.request_id, redactor=self._redactor,
                )
                raise self.interrupted(cause)
            for delta in ChatDelta.from_chunk(chunk):
                self.acc.add(delta)
                out.append(delta)
        return out

    @property
    def complete(self) -> bool:
        return self.done or self.acc.finished

    def interrupted(self, cause: BaseException | None = None) -> StreamInterrupted:
        partial = self.acc.text(0)
        tokens = self.acc.usage.completion_tokens if self.acc.usage else 0
        if cause is not None and not isinstance(cause, APIError):
            what = f"the connection broke ({cause})"
        elif cause is not None:
            what = f"the server sent an error: {cause.message}"
        else:
            what = "the stream ended without a finish reason or [DONE]"
        got = f" after {len(partial)} characters" if partial else " before any content"
        return StreamInterrupted(
            f"Stream interrupted{got}: {what}",
            partial=partial,
            partials=self.acc.texts(),
            cause=cause,
            completion_tokens=tokens,
        )

    def finish(self) -> None:
        """End of the byte stream: raise StreamInterrupted unless it was complete."""
        if self.done:
            return
        leftover = self._sse.finish()
        if leftover is not None and leftover.data.strip() == "[DONE]":
            self.done = True
            return
        if not self.acc.finished:
            raise self.interrupted()


def _args(call: ChatCall, *, stream: bool) -> dict[str, Any]:
    headers = dict(call.headers)
    headers["Content-Type"] = "application/json"
    if stream:
        headers["Accept"] = "text/event-stream"
    content = json.dumps(call.to_body(stream=stream), ensure_ascii=False).encode("utf-8")
    return dict(stream=stream, headers=headers, on_headers=call.on_headers, content=content)


def _response(conn: ConnectionCore, data: dict[str, Any], request_id: str | None
              ) -> ChatResponse:
    if data.get("error") and not data.get("choices"):
        err = data["error"]
        raise error_from_event(err if isinstance(err, dict) else {"message": str(err)},
                               request_id=request_id, redactor=conn.redactor)
    return ChatResponse.from_dict(data, request_id=request_id)


def complete(conn: Connection, call: ChatCall) -> ChatResponse:
    """One whole answer."""
    response = conn.send("POST", PATH, **_args(call, stream=False))
    with conn.redacting():
        return _response(conn, conn.json_object(response), response.headers.get("x-request-id"))


def stream(conn: Connection, call: ChatCall) -> Iterator[ChatDelta]:
    """One streamed answer, delta by delta; StreamInterrupted if it ends unfinished."""
    with conn.open("POST", PATH, **_args(call, stream=True)) as response:
        decoder = StreamDecoder(model=call.model, request_id=response.headers.get(
            "x-request-id"), redactor=conn.redactor)
        try:
            with closing(conn.iter_text(response)) as texts:
                for text in texts:
                    yield from decoder.feed(text)
                    if decoder.done:
                        break
        except APIConnectionError as exc:
            raise decoder.interrupted(exc) from None
        decoder.finish()


async def acomplete(conn: AsyncConnection, call: ChatCall) -> ChatResponse:
    response = await conn.send("POST", PATH, **_args(call, stream=False))
    with conn.redacting():
        return _response(conn, conn.json_object(response), response.headers.get("x-request-id"))


async def astream(conn: AsyncConnection, call: ChatCall) -> AsyncIterator[ChatDelta]:
    async with conn.open("POST", PATH, **_args(call, stream=True)) as response:
        decoder = StreamDecoder(model=call.model, request_id=response.headers.get(
            "x-request-id"), redactor=conn.redactor)
        try:
            async with aclosing(conn.aiter_text(response)) as texts:
                async for text in texts:
                    for delta in decoder.feed(text):
                        yield delta
                    if decoder.done:
                        break
        except APIConnectionError as exc:
            raise decoder.interrupted(exc) from None
        decoder.finish()
