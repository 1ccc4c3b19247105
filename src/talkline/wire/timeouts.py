"""How long one request may take, in its phases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._httpx import httpx as httpx

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["Timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """connect: to open a connection; read: for a whole non-streamed answer's silences;
    idle: the longest gap allowed between two stream chunks (a stalled stream); write: to
    send the request (an upload's whole body included)."""

    connect: float = 5.0
    read: float = 600.0
    idle: float = 30.0
    write: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Timeouts:
        """The configured ones: `connect_timeout`, `timeout` (read) and `idle_timeout`."""
        return cls(connect=settings.connect_timeout, read=settings.timeout,
                   idle=settings.idle_timeout)

    def for_stream(self, stream: bool, left: float | None = None) -> httpx.Timeout:
        """httpx's timeouts for one request: a streamed answer waits `idle` for each chunk,
        a whole answer `read`; waiting for a free pooled connection counts as connecting.
        `left`: the seconds left before the request's deadline; no single wait is longer."""
        def cap(seconds: float) -> float:
            return seconds if left is None else max(0.001, min(seconds, left))

        return httpx.Timeout(
            connect=cap(self.connect),
            read=cap(self.idle if stream else self.read),
            write=cap(self.write),
            pool=cap(self.connect),
        )
