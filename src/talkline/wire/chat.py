"""The chat completions endpoint: `POST /chat/completions`, whole or streamed.

`StreamDecoder` (in `decode`) turns the bytes of a stream into `ChatDelta`s and knows when
the stream is complete (pure); `complete`/`stream` and their async twins send one attempt
through a connection. What they send is any `ChatCall` (the backends' `ChatRequest` is
one). Every answer passes through the one parser (`parse`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import aclosing, closing
from typing import Any, Protocol

from ..errors import APIConnectionError, ResponseFormatError
from ..types import ChatDelta, ChatResponse
from ..types.text import clean_value
from .connection import AsyncConnection, Connection, ConnectionCore, HeadersCallback
from .decode import StreamDecoder
from .limits import check_deadline
from .parse import parse_chat_response, redacted
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

    @property
    def deadline(self) -> float | None:
        """When the attempt must be over (`time.monotonic()`), None: no deadline."""
        ...

    def to_body(self, *, stream: bool) -> dict[str, Any]: ...


class PostCall(Protocol):
    """What `request_args` reads of a call (any endpoint's)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def on_headers(self) -> HeadersCallback | None: ...

    @property
    def deadline(self) -> float | None: ...


def request_args(call: PostCall, body: dict[str, Any], *, stream: bool
                 ) -> dict[str, Any]:
    """What `Connection.send`/`open` takes for one JSON POST of `body` (either endpoint)."""
    headers = dict(call.headers)
    headers["Content-Type"] = "application/json"
    if stream:
        headers["Accept"] = "text/event-stream"
    try:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: sent replaced, as the store keeps them
        content = json.dumps(clean_value(body), ensure_ascii=False).encode("utf-8")
    return dict(stream=stream, headers=headers, on_headers=call.on_headers, content=content,
                deadline=call.deadline)


def _args(call: ChatCall, *, stream: bool) -> dict[str, Any]:
    return request_args(call, call.to_body(stream=stream), stream=stream)


def _check(decoder: StreamDecoder, deadline: float | None) -> None:
    """A stream still unfinished at its deadline (a drip, keep-alive comments only)."""
    try:
        check_deadline(deadline)
    except APIConnectionError as exc:
        raise decoder.interrupted(exc) from None


def _response(conn: ConnectionCore, data: dict[str, Any], request_id: str | None
              ) -> ChatResponse:
    if data.get("error") and not data.get("choices"):
        err = data["error"]
        raise error_from_event(err if isinstance(err, dict) else {"message": str(err)},
                               request_id=request_id, redactor=conn.redactor)
    try:  # the answer as it came kept too, for a relay (`ChatResponse.raw`)
        return parse_chat_response(data, request_id=request_id).replace(raw=data)
    except ResponseFormatError as exc:
        raise redacted(exc, conn.redactor) from None


def _decoder(conn: ConnectionCore, call: ChatCall, headers: Mapping[str, str]
             ) -> StreamDecoder:
    return StreamDecoder(model=call.model, request_id=headers.get("x-request-id"),
                         redactor=conn.redactor,
                         content_type=headers.get("content-type", ""),
                         max_event_bytes=conn.limits.max_event_bytes)


def complete(conn: Connection, call: ChatCall) -> ChatResponse:
    """One whole answer."""
    response = conn.send("POST", PATH, **_args(call, stream=False))
    with conn.redacting():
        return _response(conn, conn.json_object(response), response.headers.get("x-request-id"))


def stream(conn: Connection, call: ChatCall) -> Iterator[ChatDelta]:
    """One streamed answer, delta by delta; StreamInterrupted if it ends unfinished."""
    with conn.open("POST", PATH, **_args(call, stream=True)) as response:
        decoder = _decoder(conn, call, response.headers)
        try:
            with closing(conn.iter_text(response)) as texts:
                for text in texts:
                    yield from decoder.feed(text)
                    decoder.check()
                    if decoder.done:
                        break
                    _check(decoder, call.deadline)
        except APIConnectionError as exc:
            raise decoder.interrupted(exc) from None
        yield from decoder.finish()


async def acomplete(conn: AsyncConnection, call: ChatCall) -> ChatResponse:
    response = await conn.send("POST", PATH, **_args(call, stream=False))
    with conn.redacting():
        return _response(conn, conn.json_object(response), response.headers.get("x-request-id"))


async def astream(conn: AsyncConnection, call: ChatCall) -> AsyncIterator[ChatDelta]:
    async with conn.open("POST", PATH, **_args(call, stream=True)) as response:
        decoder = _decoder(conn, call, response.headers)
        try:
            async with aclosing(conn.aiter_text(response)) as texts:
                async for text in texts:
                    for delta in decoder.feed(text):
                        yield delta
                    decoder.check()
                    if decoder.done:
                        break
                    _check(decoder, call.deadline)
        except APIConnectionError as exc:
            raise decoder.interrupted(exc) from None
        for delta in decoder.finish():
            yield delta
