"""Many requests in flight without paying httpx's pool bookkeeping for each of them.

httpcore's connection pool re-examines every queued request against every connection on
each request and response, so its CPU cost per request grows with the square of the
requests in flight: at 100 in flight it takes milliseconds per request, more than a
fast server's answer. `ShardedBackend` spreads the requests over several small pools
(each its own `AsyncRemoteBackend`), always the least busy one, which keeps that cost
flat. It is an ordinary `AsyncBackend`: the one `AsyncClient` around it still owns
retries and the shared `RateLimiter`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from ..backends.base import ChatRequest
from ..backends.remote import AsyncRemoteBackend, Timeouts
from ..client import AsyncClient
from ..settings import Settings as Settings
from ..types import ChatDelta, ChatResponse
from ..wire._httpx import httpx as httpx

__all__ = ["SHARD_SIZE", "ShardedBackend", "batch_client"]

SHARD_SIZE = 8  # connections per pool: measured best between 4 and 8 (bench_batch.py)


class ShardedBackend:
    """`AsyncBackend` over `ceil(max_connections / shard_size)` pools."""

    def __init__(self, base_url: str, api_key: str | None, *, max_connections: int = 100,
                 shard_size: int = SHARD_SIZE, timeouts: Timeouts | None = None) -> None:
        count = max(1, math.ceil(max_connections / max(1, shard_size)))
        per = max(1, math.ceil(max_connections / count))
        # One TLS context for all: building one loads the CA bundle (~30 ms each).
        make_context = getattr(httpx, "create_ssl_context", None)
        verify: Any = make_context() if make_context and base_url.startswith("https:") else True
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        self._http = [httpx.AsyncClient(verify=verify, limits=limits) for _ in range(count)]
        self._shards = [
            AsyncRemoteBackend(base_url, api_key, timeouts=timeouts, http_client=http)
            for http in self._http
        ]
        self._busy = [0] * count
        self.name = self._shards[0].name

    @classmethod
    def for_settings(cls, settings: Any, max_connections: int) -> ShardedBackend:
        return cls(settings.base_url, settings.api_key, max_connections=max_connections,
                   timeouts=Timeouts.from_settings(settings))

    @property
    def shards(self) -> int:
        return len(self._shards)

    def _pick(self) -> int:
        busy = self._busy
        return busy.index(min(busy))

    async def complete(self, request: ChatRequest) -> ChatResponse:
        i = self._pick()
        self._busy[i] += 1
        try:
            return await self._shards[i].complete(request)
        finally:
            self._busy[i] -= 1

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        i = self._pick()
        self._busy[i] += 1
        try:
            async for delta in self._shards[i].stream(request):
                yield delta
        finally:
            self._busy[i] -= 1

    async def models(self) -> list[str]:
        return await self._shards[0].models()

    async def aclose(self) -> None:
        for http in self._http:
            await http.aclose()


def batch_client(settings: Settings | None = None, *, concurrency: int = 100, retries: int = 8,
                 **kwargs: Any) -> AsyncClient:
    """An `AsyncClient` fit for a batch: `retries` retries (a batch should not lose lines
    to transient faults) and a `ShardedBackend` sized for `concurrency` requests."""
    settings = settings or Settings.resolve()
    settings = settings.replace(retries=retries)
    backend = ShardedBackend.for_settings(settings, concurrency)
    return AsyncClient(settings=settings, backend=backend, max_connections=concurrency,
                       **kwargs)
