"""How long the server asked us to wait: `retry-after-ms`, `retry-after` (seconds or an
HTTP date) and the hint in an error message ("Please try again in 1.146s.")."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from ..ratelimit import parse_go_duration

__all__ = ["server_delay"]

_WORD_UNITS = {
    "ms": 1e-3,
    "msec": 1e-3,
    "msecs": 1e-3,
    "millisecond": 1e-3,
    "milliseconds": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_LEAD = r"(?:try\s+again|retry(?:ing)?|wait)\s+(?:in|after|for)\s+(?:about\s+|~)?"
# "in 2.5 seconds", "in 20ms", "in 1.146s" (one number, one unit word)
_HINT_WORDS = re.compile(
    _LEAD
    + r"(\d+(?:\.\d+)?|\.\d+)\s*"
    + r"(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b",
    re.I,
)
# "in 6m0s", "in 1h2m3.5s" (Go style)
_HINT_GO = re.compile(_LEAD + r"((?:(?:\d+(?:\.\d*)?|\.\d+)(?:h|ms|m|s|us|µs|μs|ns))+)(?!\w)")


def _valid(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _float(text: str) -> float | None:
    try:
        return _valid(float(text.strip()))
    except ValueError:
        return None


def _http_date(text: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # Python < 3.10 returned None for some invalid dates
        return None  # type: ignore[unreachable]
    if when.tzinfo is None:  # "-0000" means UTC with no offset information
        from datetime import timezone

        when = when.replace(tzinfo=timezone.utc)
    try:
        return _valid(when.timestamp() - now)
    except (OverflowError, ValueError, OSError):
        return None


def _message_hint(message: str) -> float | None:
    m = _HINT_WORDS.search(message)
    if m:
        return _valid(float(m.group(1)) * _WORD_UNITS[m.group(2).lower()])
    m = _HINT_GO.search(message)
    if m:
        return parse_go_duration(m.group(1))
    return None


def server_delay(
    headers: Mapping[str, str], message: str = "", *, now: float | None = None
) -> float | None:
    """The wait in seconds the server asked for, or None when it asked for nothing usable.

    Sources, first usable wins: `retry-after-ms` (float milliseconds), `retry-after` as
    seconds, `retry-after` as an HTTP date (relative to `now`, default `time.time()`),
    then a hint in the error message ("Please try again in 1.146s.", "in 20ms", "in 6m0s",
    "in 2.5 seconds"). Header names are case-insensitive. A value that is negative, NaN or
    infinite (or a date in the past) counts as unusable and the next source is tried.
    """
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        value = _float(ms)
        if value is not None:
            return value / 1000.0
    after = lower.get("retry-after")
    if after is not None:
        value = _float(after)
        if value is not None:
            return value
        value = _http_date(after, time.time() if now is None else now)
        if value is not None:
            return value
    if message:
        return _message_hint(message)
    return None
