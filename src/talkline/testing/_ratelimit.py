"""Rate limiting for the scripted server: two token buckets holding one second's worth.

OpenAI enforces per-minute limits at sub-minute granularity, so a server that lets a
whole minute's allowance through at once is too lenient to test a client against.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

__all__ = ["Bucket", "RateLimiter", "Verdict", "go_duration"]


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String`` at millisecond precision (rounded up):
    ``0s``, ``12ms``, ``1s``, ``1.146s``, ``6m0s``, ``1h2m3.5s``."""
    total_ms = math.ceil(round(seconds * 1000, 6)) if seconds > 0 else 0
    if total_ms <= 0:
        return "0s"
    if total_ms < 1000:
        return f"{total_ms}ms"
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    out = ""
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{secs}s"


class Bucket:
    """A continuously refilled token bucket; ``per_minute / 60`` capacity and refill per s."""

    def __init__(self, per_minute: float) -> None:
        self.per_minute = float(per_minute)
        self.rate = self.per_minute / 60.0
        self.capacity = max(self.rate, 1.0)
        self.level = self.capacity
        self._stamp = time.monotonic()

    def refill(self, now: float) -> None:
        if now > self._stamp:
            self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` fits (a request bigger than the bucket needs it full)."""
        need = min(amount, self.capacity)
        if self.level >= need:
            return 0.0
        return (need - self.level) / self.rate if self.rate > 0 else math.inf

    def remaining_per_minute(self) -> int:
        return max(0, int(self.level / self.capacity * self.per_minute))

    def until_full(self) -> float:
        if self.rate <= 0:
            return 0.0
        return max(0.0, (self.capacity - self.level) / self.rate)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    kind: str = ""  # "requests" | "tokens" when refused
    wait: float = 0.0  # seconds until the request would fit
    too_large: bool = False  # more tokens than a whole minute allows: never fits


class RateLimiter:
    """Requests and tokens buckets; charge both up front or refuse."""

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self.requests = Bucket(rpm) if rpm else None
        self.tokens = Bucket(tpm) if tpm else None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def try_acquire(self, tokens: int) -> Verdict:
        with self._lock:
            now = time.monotonic()
            for b in (self.requests, self.tokens):
                if b is not None:
                    b.refill(now)
            if self.tokens is not None and tokens > self.tokens.per_minute:
                return Verdict(False, "tokens", 0.0, too_large=True)
            wait_r = self.requests.wait_for(1) if self.requests is not None else 0.0
            wait_t = self.tokens.wait_for(tokens) if self.tokens is not None else 0.0
            if wait_r > 0 or wait_t > 0:
                kind = "requests" if wait_r >= wait_t else "tokens"
                return Verdict(False, kind, max(wait_r, wait_t))
            if self.requests is not None:
                self.requests.level -= 1
            if self.tokens is not None:
                self.tokens.level -= tokens
            return Verdict(True)

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        with self._lock:
            now = time.monotonic()
            if self.requests is not None:
                self.requests.refill(now)
                out["x-ratelimit-limit-requests"] = _int(self.requests.per_minute)
                out["x-ratelimit-remaining-requests"] = str(self.requests.remaining_per_minute())
                out["x-ratelimit-reset-requests"] = go_duration(self.requests.until_full())
            if self.tokens is not None:
                self.tokens.refill(now)
                out["x-ratelimit-limit-tokens"] = _int(self.tokens.per_minute)
                out["x-ratelimit-remaining-tokens"] = str(self.tokens.remaining_per_minute())
                out["x-ratelimit-reset-tokens"] = go_duration(self.tokens.until_full())
        return out


def _int(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
