"""The HTTP wire to any OpenAI-compatible server, on httpx.

The protocol work (building requests, mapping errors, decoding streams) is done by the pure
helpers `_prepare`, `_raise_for_status`, `_parse_body` and `StreamDecoder`; `RemoteBackend`
and `AsyncRemoteBackend` only move bytes with them. httpx exceptions are mapped to
`talkline.errors` in `_transport_errors` and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import (
    APIError,
    ServerError,
    StreamInterrupted,
    error_from_event,
    error_from_response,
)
from ..types import ChatDelta, ChatResponse
from ..wire._httpx import httpx as httpx
from ..wire.accumulate import StreamAccumulator as StreamAccumulator
from ..wire.keycheck import needs_key, require_key
from ..wire.sse import SSEDecoder as SSEDecoder
from ..wire.transport_errors import map_transport_error as _map_transport_error
from .base import ChatRequest

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["AsyncRemoteBackend", "RemoteBackend", "StreamDecoder", "Timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """connect: to open a connection; read: for a whole non-streamed answer's silences;
    idle: the longest gap allowed between two stream chunks (a stalled stream)."""

    connect: float = 5.0
    read: float = 600.0
    idle: float = 30.0
    write: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Timeouts:
        """The configured ones: `connect_timeout`, `timeout` (read) and `idle_timeout`."""
        return cls(connect=settings.connect_timeout, read=settings.timeout,
                   idle=settings.idle_timeout)

    def for_stream(self, stream: bool) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect,
            read=self.idle if stream else self.read,
            write=self.write,
            pool=self.connect,
        )


class StreamDecoder:
    """Bytes of a chat stream in, `ChatDelta`s out; knows when a stream is complete."""

    def __init__(self, *, model: str = "", request_id: str | None = None) -> None:
        self._sse = SSEDecoder()
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
                raise self.interrupted(
                    ServerError(f"the server sent a stream event that is not JSON: {data[:80]!r}")
                ) from None
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                err = chunk["error"]
                cause = error_from_event(
                    err if isinstance(err, dict) else {"message": str(err)},
                    request_id=self.request_id,
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


class _Wire:
    """What both backends share: the base URL, the headers, the pure steps."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeouts: Timeouts | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = self.base_url
        self.timeouts = timeouts or Timeouts()
        headers = {"User-Agent": f"talkline/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        headers.update(default_headers or {})
        self._headers = headers
        self._secrets = (api_key,) if api_key else ()
        self._no_key = needs_key(self.base_url, api_key)

    def _check_key(self) -> None:
        """OpenAI with no key: refused before any byte is sent (the backend may exist
        unused, e.g. a batch of local-model lines)."""
        if self._no_key:
            require_key(self.base_url, None)

    def _prepare(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        self._check_key()
        body = request.to_body(stream=stream)
        headers = dict(request.headers)
        headers["Content-Type"] = "application/json"
        if stream:
            headers["Accept"] = "text/event-stream"
        return dict(
            method="POST",
            url=f"{self.base_url}/chat/completions",
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers=headers,
            timeout=self.timeouts.for_stream(stream),
        )

    def _raise_for_status(self, response: httpx.Response, body: bytes) -> None:
        if response.status_code < 400:
            return
        raise error_from_response(
            response.status_code,
            body,
            headers=dict(response.headers),
            base_url=self.base_url,
            content_type=response.headers.get("content-type", ""),
            secrets=self._secrets,
            request=f"{response.request.method} {response.request.url}",
        )

    def _parse_body(self, response: httpx.Response, body: bytes) -> ChatResponse:
        request_id = response.headers.get("x-request-id")
        try:
            data = json.loads(body)
        except ValueError:
            raise ServerError(
                f"The server answered {response.status_code} with a body that is not JSON: "
                f"{body[:120]!r}",
                status=response.status_code,
                request_id=request_id,
            ) from None
        if not isinstance(data, dict):
            raise ServerError("The server answered with JSON that is not an object",
                              request_id=request_id)
        if data.get("error") and not data.get("choices"):
            err = data["error"]
            raise error_from_event(err if isinstance(err, dict) else {"message": str(err)},
                                   request_id=request_id)
        return ChatResponse.from_dict(data, request_id=request_id)

    @staticmethod
    def _model_ids(data: Any) -> list[str]:
        items = data.get("data", []) if isinstance(data, dict) else data
        ids = [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id")]
        return sorted(ids)


class RemoteBackend(_Wire):
    """One attempt at a time over HTTP, synchronously."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeouts: Timeouts | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeouts=timeouts, default_headers=default_headers)
        self._owns_client = http_client is None
        self._http = http_client or httpx.Client(headers=self._headers)
        if http_client is not None:
            self._http.headers.update(self._headers)

    @contextmanager
    def _send(self, request: ChatRequest, *, stream: bool) -> Iterator[httpx.Response]:
        args = self._prepare(request, stream=stream)
        try:
            req = self._http.build_request(**args)
            response = self._http.send(req, stream=True)
        except httpx.HTTPError as exc:
            raise _map_transport_error(exc, args["url"], before_response=True) from None
        try:
            if request.on_headers:
                request.on_headers(response.status_code, response.headers)
            if response.status_code >= 400:
                try:
                    body = response.read()
                except httpx.HTTPError:
                    body = b""
                self._raise_for_status(response, body)
            yield response
        finally:
            response.close()

    def complete(self, request: ChatRequest) -> ChatResponse:
        with self._send(request, stream=False) as response:
            try:
                body = response.read()
            except httpx.HTTPError as exc:
                raise _map_transport_error(exc, str(response.url)) from None
            return self._parse_body(response, body)

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        with self._send(request, stream=True) as response:
            decoder = StreamDecoder(
                model=request.model, request_id=response.headers.get("x-request-id")
            )
            try:
                for text in response.iter_text():
                    yield from decoder.feed(text)
                    if decoder.done:
                        break
            except httpx.HTTPError as exc:
                raise decoder.interrupted(
                    _map_transport_error(exc, str(response.url))
                ) from None
            decoder.finish()

    def models(self) -> list[str]:
        self._check_key()
        url = f"{self.base_url}/models"
        try:
            response = self._http.get(url, timeout=self.timeouts.for_stream(False))
        except httpx.HTTPError as exc:
            raise _map_transport_error(exc, url, before_response=True) from None
        self._raise_for_status(response, response.content)
        try:
            return self._model_ids(response.json())
        except ValueError:
            raise ServerError(f"{url} did not answer with JSON") from None

    def close(self) -> None:
        if self._owns_client:
            self._http.close()


class AsyncRemoteBackend(_Wire):
    """The asynchronous twin of `RemoteBackend`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeouts: Timeouts | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = 1000,
    ) -> None:
        super().__init__(base_url, api_key, timeouts=timeouts, default_headers=default_headers)
        self._owns_client = http_client is None
        limits = httpx.Limits(max_connections=max_connections,
                              max_keepalive_connections=max_connections)
        self._http = http_client or httpx.AsyncClient(headers=self._headers, limits=limits)
        if http_client is not None:
            self._http.headers.update(self._headers)

    @asynccontextmanager
    async def _send(self, request: ChatRequest, *, stream: bool) -> AsyncIterator[httpx.Response]:
        args = self._prepare(request, stream=stream)
        try:
            req = self._http.build_request(**args)
            response = await self._http.send(req, stream=True)
        except httpx.HTTPError as exc:
            raise _map_transport_error(exc, args["url"], before_response=True) from None
        try:
            if request.on_headers:
                request.on_headers(response.status_code, response.headers)
            if response.status_code >= 400:
                try:
                    body = await response.aread()
                except httpx.HTTPError:
                    body = b""
                self._raise_for_status(response, body)
            yield response
        finally:
            await response.aclose()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        async with self._send(request, stream=False) as response:
            try:
                body = await response.aread()
            except httpx.HTTPError as exc:
                raise _map_transport_error(exc, str(response.url)) from None
            return self._parse_body(response, body)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        async with self._send(request, stream=True) as response:
            decoder = StreamDecoder(
                model=request.model, request_id=response.headers.get("x-request-id")
            )
            try:
                async for text in response.aiter_text():
                    for delta in decoder.feed(text):
                        yield delta
                    if decoder.done:
                        break
            except httpx.HTTPError as exc:
                raise decoder.interrupted(
                    _map_transport_error(exc, str(response.url))
                ) from None
            decoder.finish()

    async def models(self) -> list[str]:
        self._check_key()
        url = f"{self.base_url}/models"
        try:
            response = await self._http.get(url, timeout=self.timeouts.for_stream(False))
        except httpx.HTTPError as exc:
            raise _map_transport_error(exc, url, before_response=True) from None
        self._raise_for_status(response, response.content)
        try:
            return self._model_ids(response.json())
        except ValueError:
            raise ServerError(f"{url} did not answer with JSON") from None

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()
