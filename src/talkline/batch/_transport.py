"""A client for many requests in flight: the remote backend over several small connection
pools (`talkline.wire.pools`: httpx's per-pool bookkeeping grows with the square of the
requests in flight), with the retries a batch wants. The one `AsyncClient` around it still
owns retries and the shared `RateLimiter`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backends.remote import AsyncRemoteBackend
from ..client import AsyncClient
from ..settings import Settings as Settings
from ..wire.limits import Limits
from ..wire.pools import SHARD_SIZE
from ..wire.timeouts import Timeouts

__all__ = ["SHARD_SIZE", "ShardedBackend", "batch_client"]


class ShardedBackend(AsyncRemoteBackend):
    """`AsyncRemoteBackend` over `ceil(max_connections / shard_size)` pools, each request
    on the least busy one."""

    def __init__(self, base_url: str, api_key: str | None, *, max_connections: int = 100,
                 shard_size: int = SHARD_SIZE, timeouts: Timeouts | None = None,
                 on_warning: Callable[[str], None] | None = None,
                 limits: Limits | None = None) -> None:
        super().__init__(base_url, api_key, timeouts=timeouts, on_warning=on_warning,
                         max_connections=max_connections, shard_size=shard_size,
                         limits=limits)

    @classmethod
    def for_settings(cls, settings: Any, max_connections: int,
                     on_warning: Callable[[str], None] | None = None) -> ShardedBackend:
        return cls(settings.base_url, settings.api_key, max_connections=max_connections,
                   timeouts=Timeouts.from_settings(settings), on_warning=on_warning,
                   limits=Limits.from_settings(settings))

    @property
    def shards(self) -> int:
        return self.connection.pools.size


def batch_client(settings: Settings | None = None, *, concurrency: int = 100, retries: int = 8,
                 on_warning: Callable[[str], None] | None = None, **kwargs: Any
                 ) -> AsyncClient:
    """An `AsyncClient` fit for a batch: `retries` retries (a batch should not lose lines
    to transient faults) and a `ShardedBackend` sized for `concurrency` requests."""
    settings = settings or Settings.resolve()
    settings = settings.replace(retries=retries)
    backend = ShardedBackend.for_settings(settings, concurrency, on_warning=on_warning)
    return AsyncClient(settings=settings, backend=backend, max_connections=concurrency,
                       **kwargs)
