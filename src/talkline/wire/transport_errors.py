"""httpx's transport exceptions as talkline's: `APIConnectionError`, `APITimeoutError`,
with whether a connection was made at all and why not, in a few words."""

from __future__ import annotations

import socket

from ..errors import APIConnectionError, APITimeoutError
from ._httpx import httpx as httpx
from .redact import Redactor

__all__ = ["map_transport_error"]


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words, from the OS error under httpx's."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, socket.gaierror):
            return "the host name could not be resolved"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        if isinstance(seen, (TimeoutError, httpx.ConnectTimeout)):
            return "timed out connecting"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


def map_transport_error(exc: httpx.HTTPError, url: str, *, before_response: bool = False,
                        redactor: Redactor | None = None) -> APIConnectionError:
    """httpx's error as ours; `before_response`: raised while sending the request, before
    any byte of an answer (so a failure to connect, unless it is a read timeout). The
    `redactor`'s secrets are kept out of the message."""
    redact = redactor or Redactor(())
    url = redact.text(url)
    connect = before_response and (
        not isinstance(exc, httpx.TimeoutException) or isinstance(exc, httpx.ConnectTimeout)
    )
    reason = redact.text(_reason(exc)) if connect else ""
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for data",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "waiting")
        return APITimeoutError(
            f"Timed out {kind} ({url})",
            url=url,
            hint="The server is slow or unreachable; try again, or raise --idle-timeout.",
            connect=connect, reason=reason,
        )
    detail = redact.text(str(exc) or type(exc).__name__)
    return APIConnectionError(
        f"Could not talk to {url}: {detail}",
        url=url,
        hint="Check the base URL and your network connection.",
        connect=connect, reason=reason,
    )
