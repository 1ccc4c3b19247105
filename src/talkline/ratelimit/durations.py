"""Go durations (`1s`, `6m0s`, `12ms`): the format of `x-ratelimit-reset-*` headers and of
some "try again in ..." hints."""

from __future__ import annotations

import math
import re

__all__ = ["parse_go_duration"]

_GO_UNITS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 micro sign, what Go prints
    "μs": 1e-6,  # U+03BC Greek mu, accepted by Go too
    "ns": 1e-9,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_GO_PART = re.compile(rf"({_NUMBER})(h|ms|m|s|us|µs|μs|ns)")
_GO_FULL = re.compile(rf"\+?(?:{_NUMBER}(?:h|ms|m|s|us|µs|μs|ns))+")
_BARE = re.compile(rf"\+?{_NUMBER}")


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go duration (`1s`, `6m0s`, `12ms`, `1h2m3.5s`, `250us`, `100ns`).

    `x-ratelimit-reset-*` headers use Go's format. A bare number (`"20"`, `"0.5"`) is
    taken as seconds, since some gateways send that. Returns None for anything else,
    including negative durations (a reset in the past tells us nothing).
    """
    if not isinstance(text, str):
        return None
    s = text.strip()
    if not s:
        return None
    if _BARE.fullmatch(s):
        value = float(s)
    elif _GO_FULL.fullmatch(s):
        value = sum(float(num) * _GO_UNITS[unit] for num, unit in _GO_PART.findall(s))
    else:
        return None
    return value if math.isfinite(value) and value >= 0 else None
