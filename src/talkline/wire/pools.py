"""Many requests in flight without paying httpx's pool bookkeeping for each of them.

httpcore's connection pool re-examines every queued request against every connection on
each request and response, so its CPU cost per request grows with the square of the
requests in flight: at 100 in flight it takes milliseconds per request, more than a
fast server's answer. `ClientPools` spreads the requests over several small pools (each
its own `httpx.AsyncClient`), always the least busy one, which keeps that cost flat.
With `shard_size=None` it is one pool of `max_connections`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ._httpx import httpx as httpx

__all__ = ["SHARD_SIZE", "ClientPools"]

SHARD_SIZE = 8  # connections per pool: measured best between 4 and 8 (bench_batch.py)


class ClientPools:
    """`ceil(max_connections / shard_size)` async clients; `lease()` hands out the least
    busy one for the length of a request (its streamed body included)."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *,
                 max_connections: int = 1000, shard_size: int | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        count = 1 if shard_size is None else max(
            1, math.ceil(max_connections / max(1, shard_size)))
        per = max(1, math.ceil(max_connections / count))
        limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
        # One TLS context for all: building one loads the CA bundle (~30 ms each).
        make_context = getattr(httpx, "create_ssl_context", None)
        verify: Any = (make_context() if count > 1 and make_context
                       and base_url.startswith("https:") else True)
        self._clients = [
            httpx.AsyncClient(headers=dict(headers), limits=limits, verify=verify,
                              transport=transport)
            for _ in range(count)
        ]
        self._busy = [0] * len(self._clients)

    @property
    def size(self) -> int:
        return len(self._clients)

    @contextmanager
    def lease(self) -> Iterator[httpx.AsyncClient]:
        busy = self._busy
        i = busy.index(min(busy))
        busy[i] += 1
        try:
            yield self._clients[i]
        finally:
            busy[i] -= 1

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
