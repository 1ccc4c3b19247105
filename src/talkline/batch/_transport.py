"""A client for many requests in flight: the remote backend over several small connection
pools (`talkline.wire.pools`: httpx's per-pool bookkeeping grows with the square of the
requests in flight), with the retries a batch wants. The one `AsyncClient` around it still
owns retries and the shared `RateLimiter`.
"""

from __future__ import annotations

from typing import Any

from ..backends.remote import AsyncRemoteBackend, Timeouts
from ..client import AsyncClient
from ..settings import Settings as Settings
from ..wire.pools import SHARD_SIZE

__all__ = ["SHARD_SIZE", "ShardedBackend", "batch_client"]


class ShardedBackend(AsyncRemoteBackend):
    """`AsyncRemoteBackend` over `ceil(max_connections / shard_size)` pools, each request
    on the least busy one."""

    def __init__(self, base_url: str, api_key: str | None, *, max_connections: int = 100,
                 shard_size: int = SHARD_SIZE, timeouts: Timeouts | None = None) -> None:
        super().__init__(base_url, api_key, timeouts=timeouts,
                         max_connections=max_connections, shard_size=shard_size)

    @classmethod
    def for_settings(cls, settings: Any, max_connections: int) -> ShardedBackend:
        timeouts = Timeouts(connect=settings.connect_timeout, read=settings.timeout,
                            idle=settings.idle_timeout)
        return cls(settings.base_url, settings.api_key, max_connections=max_connections,
                   timeouts=timeouts)

    @property
    def shards(self) -> int:
        return self.connection.pools.size


def batch_client(settings: Settings | None = None, *, concurrency: int = 100, retries: int = 8,
                 **kwargs: Any) -> AsyncClient:
    """An `AsyncClient` fit for a batch: `retries` retries (a batch should not lose lines
    to transient faults) and a `ShardedBackend` sized for `concurrency` requests."""
    settings = settings or Settings.resolve()
    settings = settings.replace(retries=retries)
    backend = ShardedBackend.for_settings(settings, concurrency)
    return AsyncClient(settings=settings, backend=backend, max_connections=concurrency,
                       **kwargs)
