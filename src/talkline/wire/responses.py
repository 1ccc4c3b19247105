"""The Responses API endpoint: `POST /responses`, whole or streamed.

The same connection, limits, deadline, redaction and parser rules as the chat endpoint
(`chat`), and the same values out: a `ChatResponse`, or `ChatDelta`s from
`ResponsesDecoder`. The body is `responses_map.responses_body`. A server that answers
404 here has no Responses API (most compatible servers): that is said, with the fix
(`--api chat`); a response `previous_response_id` names that the server no longer has
is said too, with its fix (drop `--server-state`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import aclosing, closing, contextmanager
from typing import Any, Protocol

from ..errors import APIConnectionError, APIError, NotFoundError, ResponseFormatError
from ..types import ChatDelta, ChatResponse
from .chat import _check, request_args
from .connection import AsyncConnection, Connection, ConnectionCore, HeadersCallback
from .responses_decode import ResponsesDecoder
from .responses_parse import parse_response
from .status_errors import error_from_event

__all__ = ["PATH", "ResponsesCall", "acomplete", "astream", "complete", "stream"]

PATH = "responses"


class ResponsesCall(Protocol):
    """One request as this endpoint needs it (the backends' `ChatRequest` is one)."""

    @property
    def model(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def on_headers(self) -> HeadersCallback | None: ...

    @property
    def deadline(self) -> float | None: ...

    def to_responses_body(self, *, stream: bool) -> dict[str, Any]: ...


def _args(call: ResponsesCall, *, stream: bool) -> dict[str, Any]:
    return request_args(call, call.to_responses_body(stream=stream), stream=stream)


def explained(exc: APIError, conn: ConnectionCore) -> APIError:
    """A 404 from a server without this endpoint, or a forgotten previous response,
    made an error that names its fix; any other error as it is."""
    if isinstance(exc, NotFoundError) and exc.code not in ("model_not_found",
                                                           "previous_response_not_found"):
        return NotFoundError(
            f"this server has no Responses API (POST {conn.url(PATH)} answered 404); "
            "use --api chat",
            hint='Or set api = "chat" in config.toml (or TALKLINE_API=chat) for this server.',
            status=404, code=exc.code, request_id=exc.request_id, body=exc.body)
    if exc.code == "previous_response_not_found" or (
            exc.param == "previous_response_id" and exc.status in (400, 404)):
        return type(exc)(
            "the server no longer has the previous response this conversation continues "
            f"from ({exc.message}); run again without --server-state",
            hint="Without --server-state talkline sends the whole conversation, encrypted "
                 "reasoning included.",
            status=exc.status, code=exc.code, param=exc.param, request_id=exc.request_id)
    return exc


@contextmanager
def _explaining(conn: ConnectionCore) -> Iterator[None]:
    try:
        yield
    except APIError as exc:
        raise explained(exc, conn) from None


def _response(conn: ConnectionCore, data: dict[str, Any], request_id: str | None
              ) -> ChatResponse:
    if data.get("error") and not data.get("output"):
        err = data["error"]
        raise error_from_event(err if isinstance(err, dict) else {"message": str(err)},
                               request_id=request_id, redactor=conn.redactor)
    try:
        return parse_response(data, request_id=request_id, redactor=conn.redactor)
    except ResponseFormatError as exc:
        from .parse import redacted

        raise redacted(exc, conn.redactor) from None


def _decoder(conn: ConnectionCore, call: ResponsesCall, headers: Mapping[str, str]
             ) -> ResponsesDecoder:
    return ResponsesDecoder(model=call.model, request_id=headers.get("x-request-id"),
                            redactor=conn.redactor,
                            content_type=headers.get("content-type", ""),
                            max_event_bytes=conn.limits.max_event_bytes)


def complete(conn: Connection, call: ResponsesCall) -> ChatResponse:
    """One whole answer."""
    with _explaining(conn):
        response = conn.send("POST", PATH, **_args(call, stream=False))
    with conn.redacting():
        return _response(conn, conn.json_object(response), response.headers.get("x-request-id"))


def stream(conn: Connection, call: ResponsesCall) -> Iterator[ChatDelta]:
    """One streamed answer, delta by delta; StreamInterrupted if it ends unfinished."""
    with _explaining(conn), conn.open("POST", PATH, **_args(call, stream=True)) as response:
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


async def acomplete(conn: AsyncConnection, call: ResponsesCall) -> ChatResponse:
    with _explaining(conn):
        response = await conn.send("POST", PATH, **_args(call, stream=False))
    with conn.redacting():
        return _response(conn, conn.json_object(response), response.headers.get("x-request-id"))


async def astream(conn: AsyncConnection, call: ResponsesCall) -> AsyncIterator[ChatDelta]:
    with _explaining(conn):
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
