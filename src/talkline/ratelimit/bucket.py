"""`TokenBucket`: a continuously refilled bucket, pure arithmetic with no clock of its own."""

from __future__ import annotations

import math

__all__ = ["MIN_WAIT", "TokenBucket"]

# Relative slack when comparing float levels, so that sleeping exactly the computed wait
# always succeeds instead of leaving a 1e-16 shortfall and a spin.
EPS = 1e-9
# Shortest wait ever returned for "not yet": avoids busy loops on rounding noise.
MIN_WAIT = 1e-3


class TokenBucket:
    """A continuously refilled bucket: `capacity` units, refilled at `rate` units/second.

    Pure: it has no clock; every method takes `now` (seconds, any monotonic origin). The
    first call only sets the time origin. `level` may go negative (debt) after
    `force_take` or an oversized `take`; nothing is granted until the debt is repaid.

    A charge bigger than `capacity` (one request when the limit is under one per
    `burst_seconds`, or one huge prompt) could never fit, so it is granted when the
    bucket is full and leaves it in debt: the long-run rate still holds.
    """

    __slots__ = ("capacity", "rate", "level", "paused_until", "_last")

    def __init__(self, capacity: float, rate: float, *, level: float | None = None) -> None:
        if not (math.isfinite(capacity) and capacity > 0):
            raise ValueError(f"bucket capacity must be a positive number, got {capacity!r}")
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"bucket rate must be a positive number, got {rate!r}")
        self.capacity = float(capacity)
        self.rate = float(rate)
        self.level = self.capacity if level is None else min(float(level), self.capacity)
        self.paused_until = -math.inf
        self._last: float | None = None

    @classmethod
    def per_minute(cls, limit_per_minute: float, burst_seconds: float = 1.0) -> TokenBucket:
        """A bucket for a per-minute limit holding `burst_seconds` worth of it, full."""
        if not (math.isfinite(burst_seconds) and burst_seconds > 0):
            raise ValueError(f"burst_seconds must be positive, got {burst_seconds!r}")
        rate = limit_per_minute / 60.0
        return cls(rate * burst_seconds, rate)

    @property
    def burst_seconds(self) -> float:
        """How many seconds of the limit the bucket holds (kept by `set_limit`)."""
        return self.capacity / self.rate

    @property
    def limit_per_minute(self) -> float:
        return self.rate * 60.0

    def refill(self, now: float) -> None:
        """Add what flowed in since the last call (never above capacity)."""
        if self._last is None:
            self._last = now
            return
        if now > self._last:
            # No refill happens while paused: the server said its bucket is empty until then.
            start = max(self._last, self.paused_until)
            if now > start:
                self.level = min(self.capacity, self.level + (now - start) * self.rate)
            self._last = now

    def _wait_until(self, target: float, now: float) -> float:
        """Seconds until the level reaches `target` (may exceed capacity: an estimate)."""
        self.refill(now)
        pause = max(0.0, self.paused_until - now)
        if self.level >= target - EPS * max(1.0, abs(target)):
            return pause
        return pause + (target - self.level) / self.rate

    def _need(self, amount: float) -> float:
        return min(max(0.0, amount), self.capacity)

    def wait_time(self, amount: float, now: float) -> float:
        """Seconds until `amount` can be taken; 0 if it can be taken now."""
        return self._wait_until(self._need(amount), now)

    def take(self, amount: float, now: float) -> float:
        """Take `amount` if available and return 0; else take nothing and return the wait."""
        wait = self.wait_time(amount, now)
        if wait > 0:
            return max(wait, MIN_WAIT)
        self.level -= max(0.0, amount)
        return 0.0

    def force_take(self, amount: float, now: float) -> None:
        """Take `amount` regardless, going into debt: to charge what was already spent."""
        self.refill(now)
        self.level -= max(0.0, amount)

    def give_back(self, amount: float, now: float) -> None:
        """Return unused units (actual usage below the estimate); never above capacity."""
        self.refill(now)
        self.level = min(self.capacity, self.level + max(0.0, amount))

    def set_limit(self, limit_per_minute: float, now: float) -> None:
        """Change the limit, keeping `burst_seconds`; the level is kept, capped to capacity."""
        if not (math.isfinite(limit_per_minute) and limit_per_minute > 0):
            raise ValueError(f"limit must be a positive number, got {limit_per_minute!r}")
        self.refill(now)
        burst = self.burst_seconds
        self.rate = limit_per_minute / 60.0
        self.capacity = self.rate * burst
        self.level = min(self.level, self.capacity)

    def pause_until(self, t: float) -> None:
        """Nothing is available before `t`, and the bucket counts as empty then.

        A 429 means the server's bucket is empty: we drop any credit we thought we had
        (debt is kept) and refill only from `t` on.
        """
        if t > self.paused_until:
            self.paused_until = t
        self.level = min(self.level, 0.0)

    def __repr__(self) -> str:
        return (
            f"TokenBucket(capacity={self.capacity:g}, rate={self.rate:g}/s, level={self.level:g})"
        )
