"""The bounds of one attempt: the size of a body and of one stream event, and the
request's deadline (an absolute `time.monotonic()` time, shared by all its attempts)."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DeadlineExceeded, ResponseTooLarge, ServerError
from ..settings.defaults import DEADLINE, MAX_BODY_BYTES, MAX_EVENT_BYTES

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["Inflater", "Limits", "check_deadline", "remaining", "too_large"]


@dataclass(frozen=True)
class Limits:
    """`max_body_bytes`: a whole answer, decompressed; `max_event_bytes`: one stream event;
    `max_wait`: the seconds a request sent with no deadline of its own may take in all (the
    models list, a tokenize call, the Batch API's calls), so a server that drips its answer
    cannot hold one forever."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_event_bytes: int = MAX_EVENT_BYTES
    max_wait: float = DEADLINE

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(max_body_bytes=settings.max_body_bytes,
                   max_event_bytes=settings.max_event_bytes, max_wait=settings.deadline)

    def deadline(self, given: float | None) -> float:
        """`given`, or `max_wait` from now when the caller set none."""
        return given if given is not None else time.monotonic() + self.max_wait


def too_large(what: str, limit: int, setting: str) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"the server sent {what} larger than {limit:,} bytes; refused",
        hint=f"If the answer really is that large, raise {setting} in config.toml.",
    )


def remaining(deadline: float | None) -> float | None:
    """Seconds left before `deadline`, None when there is none (never below 0)."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def check_deadline(deadline: float | None, seconds: float | None = None) -> None:
    """Raise DeadlineExceeded when `deadline` has passed."""
    if deadline is not None and time.monotonic() >= deadline:
        spent = f" of {seconds:g} s" if seconds else ""
        raise DeadlineExceeded(
            f"the request's deadline{spent} passed before the answer was complete",
            hint="Raise it with --deadline SECONDS (or deadline = ... in config.toml) "
                 "if the model needs longer.",
            reason="deadline",
        )


class Inflater:
    """A gzip body decompressed a bounded piece at a time (httpx's own decoder expands a
    whole network chunk at once: 64 KiB of a gzip bomb is 64 MiB)."""

    PIECE = 256 * 1024

    def __init__(self) -> None:
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while data:
                piece = self._z.decompress(data, self.PIECE)
                data = self._z.unconsumed_tail
                if piece:
                    yield piece
                if self._z.eof:
                    return
        except zlib.error:
            raise ServerError("the server sent a gzip body that does not decompress; "
                              "refused") from None
