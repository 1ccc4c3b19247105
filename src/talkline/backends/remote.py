"""Any OpenAI-compatible server as a `Backend`: the wire's chat (or, when the request
says `api="responses"`, Responses API; `api="completions"`, text completions) and models
endpoints.

One attempt per call; everything HTTP (headers, timeouts, the plain-http warning, key
redaction, error mapping) is the wire's (`talkline.wire.connection`). `on_warning` gets
the plain-http warning (default: the `talkline.wire` logger); `transport` is an httpx
transport to send through (a test's, a proxy's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

from ..types import ChatDelta, ChatResponse
from ..wire import chat, completions, models, responses
from ..wire.connection import AsyncConnection, AsyncTransport, Connection, Transport, Warn
from ..wire.limits import Limits
from ..wire.timeouts import Timeouts
from .base import ChatRequest

__all__ = ["AsyncRemoteBackend", "RemoteBackend"]


class RemoteBackend:
    """One attempt at a time over HTTP, synchronously."""

    def __init__(self, base_url: str, api_key: str | None, *,
                 timeouts: Timeouts | None = None,
                 default_headers: Mapping[str, str] | None = None,
                 on_warning: Warn | None = None,
                 transport: Transport | None = None, limits: Limits | None = None) -> None:
        self.connection = Connection(base_url, api_key, timeouts=timeouts,
                                     headers=default_headers, on_warning=on_warning,
                                     transport=transport, limits=limits)
        self.base_url = self.name = self.connection.base_url
        self.timeouts = self.connection.timeouts

    def complete(self, request: ChatRequest) -> ChatResponse:
        if request.api == "completions":
            return completions.complete(self.connection, request)
        if request.api == "responses":
            return responses.complete(self.connection, request)
        return chat.complete(self.connection, request)

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        if request.api == "completions":
            return completions.stream(self.connection, request)
        if request.api == "responses":
            return responses.stream(self.connection, request)
        return chat.stream(self.connection, request)

    def models(self) -> list[str]:
        return models.model_ids(self.connection)

    def close(self) -> None:
        self.connection.close()


class AsyncRemoteBackend:
    """The asynchronous twin of `RemoteBackend`. `shard_size`: spread `max_connections`
    over pools of that many connections (many requests in flight: `talkline.wire.pools`)."""

    def __init__(self, base_url: str, api_key: str | None, *,
                 timeouts: Timeouts | None = None,
                 default_headers: Mapping[str, str] | None = None,
                 on_warning: Warn | None = None,
                 transport: AsyncTransport | None = None,
                 max_connections: int = 1000, shard_size: int | None = None,
                 limits: Limits | None = None) -> None:
        self.connection = AsyncConnection(base_url, api_key, timeouts=timeouts,
                                          headers=default_headers, on_warning=on_warning,
                                          transport=transport,
                                          max_connections=max_connections,
                                          shard_size=shard_size, limits=limits)
        self.base_url = self.name = self.connection.base_url
        self.timeouts = self.connection.timeouts

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if request.api == "completions":
            return await completions.acomplete(self.connection, request)
        if request.api == "responses":
            return await responses.acomplete(self.connection, request)
        return await chat.acomplete(self.connection, request)

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        if request.api == "completions":
            return completions.astream(self.connection, request)
        if request.api == "responses":
            return responses.astream(self.connection, request)
        return chat.astream(self.connection, request)

    async def models(self) -> list[str]:
        return await models.amodel_ids(self.connection)

    async def aclose(self) -> None:
        await self.connection.aclose()
