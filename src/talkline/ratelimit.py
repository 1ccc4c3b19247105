"""Client-side rate limiting: stay under the server's RPM/TPM limits instead of hitting 429s.

The server enforces its per-minute limits at sub-minute granularity (about one second's
worth at a time, refilled continuously), so a one-minute sliding window would let a whole
minute's allowance through in a burst and get refused. We model each limit as a token
bucket holding `burst_seconds` worth of the limit, refilled continuously, starting full.

Two layers:

* `TokenBucket`: pure arithmetic, no clock of its own (every method takes `now`), so it can
  be tested exhaustively with a fake clock.
* `RateLimiter`: one per client, shared by all its threads and tasks, keyed by
  `(base_url, model)`. A request leaves only when both its buckets (requests, tokens) hold
  enough. Limits come from settings (every key) and are overridden per key by what the
  server says in its `x-ratelimit-*` headers.

Nothing here does I/O or sleeps on its own: `acquire`/`aacquire` take an injectable sleep.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DEFAULT_MAX_TOKENS_ESTIMATE",
    "LimitKey",
    "LimitKind",
    "RateLimiter",
    "Reservation",
    "TokenBucket",
    "estimate_tokens",
    "limit_kind",
    "parse_go_duration",
]

LimitKey = tuple[str, str]
"""`(base_url, model)`: the server keeps separate limits per model."""

LimitKind = Literal["requests", "tokens"]

# Relative slack when comparing float levels, so that sleeping exactly the computed wait
# always succeeds instead of leaving a 1e-16 shortfall and a spin.
_EPS = 1e-9
# Shortest wait ever returned for "not yet": avoids busy loops on rounding noise.
_MIN_WAIT = 1e-3
_PROBE_POLL = 0.01  # how often waiters look whether the probe request has answered

# --------------------------------------------------------------------------- durations

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


# --------------------------------------------------------------------------- estimates

DEFAULT_MAX_TOKENS_ESTIMATE = 4096
"""Completion tokens assumed when a request sets no max_tokens.

The server then charges its own large default up front (often the model's whole output
limit). 4096 is a compromise: big enough that a burst of such requests does not overrun
the TPM limit, small enough not to serialise everything. Pass the model's real output
limit as `default_max` when it is known.
"""


def estimate_tokens(
    prompt_tokens: int,
    n: int = 1,
    max_tokens: int | None = None,
    default_max: int = DEFAULT_MAX_TOKENS_ESTIMATE,
) -> int:
    """What the server charges against TPM up front: prompt + n * max completion tokens."""
    completion = max_tokens if max_tokens is not None and max_tokens >= 0 else default_max
    return max(0, int(prompt_tokens)) + max(1, int(n)) * max(0, int(completion))


def limit_kind(error: BaseException) -> LimitKind | None:
    """Which limit a 429 names, for `RateLimiter.pause`: "requests", "tokens" or None.

    OpenAI puts it in the error's `type` (`requests` / `tokens`) and in the message
    ("... on tokens per min (TPM) ..."). None means unknown: pause both.
    """
    type_ = getattr(error, "type", None)
    if type_ in ("requests", "tokens"):
        return "tokens" if type_ == "tokens" else "requests"
    message = str(getattr(error, "message", "") or "").lower()
    if re.search(r"tokens per (?:min|day)|\b(?:tpm|tpd)\b", message):
        return "tokens"
    if re.search(r"requests per (?:min|day)|\b(?:rpm|rpd)\b", message):
        return "requests"
    return None


# --------------------------------------------------------------------------- bucket


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
        if self.level >= target - _EPS * max(1.0, abs(target)):
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
            return max(wait, _MIN_WAIT)
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


# --------------------------------------------------------------------------- limiter


@dataclass(frozen=True)
class Reservation:
    """The answer of `RateLimiter.reserve`/`acquire`.

    `delay == 0`: granted, `tokens` (the estimate) were charged to `key`'s buckets; pass
    it to `reconcile` once the real usage is known. `delay > 0`: nothing was reserved;
    try again after `delay` seconds.
    """

    key: LimitKey
    tokens: int
    delay: float = 0.0

    @property
    def granted(self) -> bool:
        return self.delay <= 0


@dataclass
class _KeyState:
    requests: TokenBucket | None = None
    tokens: TokenBucket | None = None
    learned: set[str] = field(default_factory=set)  # kinds whose limit came from headers
    paused_until: dict[str, float] = field(default_factory=dict)  # pauses with no bucket
    waiting: dict[int, int] = field(default_factory=dict)  # ticket -> tokens, FIFO order
    probing: bool = False  # the first request to an unknown key is in flight
    probed: bool = False  # that first request has answered (headers or not)


class RateLimiter:
    """Keeps every request of one client under the RPM/TPM limits of each `(base_url, model)`.

    Thread-safe (one `threading.Lock`, never held while sleeping) and asyncio-friendly
    (`aacquire` computes the wait under the lock, releases it and awaits the sleep).

    * `rpm`/`tpm` from settings apply to every key; limits learned from a key's
      `x-ratelimit-limit-*` headers replace them for that key (the server knows its
      real limit, which may be higher or lower than configured).
    * A bucket with no known limit never throttles.
    * Waiters are served first come, first served per key: a small request may only pass
      a bigger one that arrived earlier when the buckets hold enough for both.
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        burst_seconds: float = 1.0,
        probe_first: bool = False,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if not (math.isfinite(burst_seconds) and burst_seconds > 0):
            raise ValueError(f"burst_seconds must be positive, got {burst_seconds!r}")
        self.rpm = rpm
        self.tpm = tpm
        self.burst_seconds = burst_seconds
        # With no limit known for a key, send its first request alone and let the answer's
        # x-ratelimit-* headers set the buckets before the rest go: a burst of 500 tasks
        # on a fresh client would otherwise hit the server's own bucket all at once.
        self.probe_first = probe_first
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[LimitKey, _KeyState] = {}
        self._tickets = itertools.count()

    # -- state ------------------------------------------------------------------

    def _state(self, key: LimitKey) -> _KeyState:
        state = self._keys.get(key)
        if state is None:
            state = _KeyState()
            if self.rpm is not None:
                state.requests = TokenBucket.per_minute(self.rpm, self.burst_seconds)
            if self.tpm is not None:
                state.tokens = TokenBucket.per_minute(self.tpm, self.burst_seconds)
            self._keys[key] = state
        return state

    @staticmethod
    def _bucket(state: _KeyState, kind: str) -> TokenBucket | None:
        return state.requests if kind == "requests" else state.tokens

    # -- the core step ------------------------------------------------------------

    def reserve(self, key: LimitKey, tokens: int) -> Reservation:
        """Non-blocking: charge one request and `tokens` now, or say how long to wait.

        A caller of `reserve` counts as arriving after everyone already waiting in
        `acquire`/`aacquire` for this key, so it cannot starve them.
        """
        with self._lock:
            return self._reserve(key, tokens, None)

    def _reserve(self, key: LimitKey, tokens: int, ticket: int | None) -> Reservation:
        # Must hold self._lock. The clock is read under the lock so grants are ordered.
        now = self._clock()
        state = self._state(key)
        tokens = max(0, int(tokens))
        # Demands of the waiters ahead of this one (FIFO), then this one's own.
        ahead: list[int] = []
        for t, amount in state.waiting.items():
            if t == ticket:
                break
            ahead.append(amount)
        if self.probe_first and not state.probed and state.requests is None and (
            state.tokens is None
        ):
            if state.probing:
                return Reservation(key, tokens, _PROBE_POLL)
            state.probing = True
            return Reservation(key, tokens, 0.0)
        wait = 0.0
        for kind in ("requests", "tokens"):
            bucket = self._bucket(state, kind)
            if bucket is None:
                wait = max(wait, state.paused_until.get(kind, -math.inf) - now)
                continue
            demands = [1] * (len(ahead) + 1) if kind == "requests" else [*ahead, tokens]
            # Each demand is capped at capacity (oversized charges pass when full), so the
            # head alone needs at most a full bucket; later ones need room for all ahead.
            target = sum(bucket._need(d) for d in demands)
            wait = max(wait, bucket._wait_until(target, now))
        if wait > 0:
            return Reservation(key, tokens, max(wait, _MIN_WAIT))
        if state.requests is not None:
            state.requests.force_take(1, now)
        if state.tokens is not None:
            state.tokens.force_take(tokens, now)
        return Reservation(key, tokens, 0.0)

    def _enqueue(self, key: LimitKey, tokens: int) -> int:
        with self._lock:
            ticket = next(self._tickets)
            self._state(key).waiting[ticket] = max(0, int(tokens))
            return ticket

    def _step(self, key: LimitKey, tokens: int, ticket: int) -> Reservation:
        with self._lock:
            res = self._reserve(key, tokens, ticket)
            if res.granted:
                self._state(key).waiting.pop(ticket, None)
            return res

    def _leave(self, key: LimitKey, ticket: int) -> None:
        with self._lock:
            self._state(key).waiting.pop(ticket, None)

    # -- blocking front ends --------------------------------------------------------

    def acquire(
        self, key: LimitKey, tokens: int, *, sleep: Callable[[float], None] = time.sleep
    ) -> Reservation:
        """Block (with `sleep`) until one request and `tokens` are granted for `key`."""
        ticket = self._enqueue(key, tokens)
        try:
            while True:
                res = self._step(key, tokens, ticket)
                if res.granted:
                    return res
                sleep(res.delay)
        finally:
            self._leave(key, ticket)

    async def aacquire(
        self,
        key: LimitKey,
        tokens: int,
        *,
        asleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> Reservation:
        """The async twin of `acquire`: never blocks the event loop (the lock is brief)."""
        if asleep is None:
            import asyncio  # lazily: the sync start-up path never needs asyncio

            asleep = asyncio.sleep
        ticket = self._enqueue(key, tokens)
        try:
            while True:
                res = self._step(key, tokens, ticket)
                if res.granted:
                    return res
                await asleep(res.delay)
        finally:
            self._leave(key, ticket)

    # -- feedback -------------------------------------------------------------------

    def reconcile(self, reservation: Reservation, actual_total_tokens: int | None) -> None:
        """Correct a granted reservation with the real `usage.total_tokens`.

        Smaller: the difference is given back (never above capacity). Bigger: the extra is
        charged (possibly into debt). None (no usage reported): the estimate stands.
        """
        if not reservation.granted:
            return
        with self._lock:
            state = self._state(reservation.key)
            if state.probing:
                state.probing, state.probed = False, True
        if actual_total_tokens is None:
            return
        diff = int(actual_total_tokens) - reservation.tokens
        if diff == 0:
            return
        with self._lock:
            now = self._clock()
            bucket = self._state(reservation.key).tokens
            if bucket is None:
                return
            if diff < 0:
                bucket.give_back(-diff, now)
            else:
                bucket.force_take(diff, now)

    def update_from_headers(self, key: LimitKey, headers: Mapping[str, str]) -> None:
        """Learn from a response's `x-ratelimit-*` headers (any response, errors included).

        * `limit-*` sets the key's limit for that kind (overriding settings). Values of
          -1, 0, missing or unparsable are ignored: gateways send them for "unknown".
        * `remaining-*` can only lower the level, never raise it (the server has not yet
          seen our in-flight requests). The server counts per minute, our bucket holds
          `burst_seconds`; we map proportionally: level <= remaining / limit * capacity.
          A remaining of 0 counts only when the same response gives a valid limit.
        * `reset-*` is used when remaining is 0: the bucket is paused that long (at most
          60 s; longer resets are daily limits that the 429 path handles).
        """
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        with self._lock:
            now = self._clock()
            state = self._state(key)
            state.probing, state.probed = False, True
            for kind in ("requests", "tokens"):
                limit = _positive(lower.get(f"x-ratelimit-limit-{kind}"))
                if limit is not None:
                    bucket = self._bucket(state, kind)
                    if bucket is None:
                        bucket = TokenBucket.per_minute(limit, self.burst_seconds)
                        bucket.refill(now)
                        paused = state.paused_until.pop(kind, -math.inf)
                        if paused > now:  # a 429 paused this kind before its limit was known
                            bucket.pause_until(paused)
                        if kind == "requests":
                            state.requests = bucket
                        else:
                            state.tokens = bucket
                    elif bucket.limit_per_minute != limit:
                        bucket.set_limit(limit, now)
                    state.learned.add(kind)
                bucket = self._bucket(state, kind)
                if bucket is None:
                    continue
                remaining = _number(lower.get(f"x-ratelimit-remaining-{kind}"))
                if remaining is None or remaining < 0 or (remaining == 0 and limit is None):
                    continue
                scale = limit if limit is not None else bucket.limit_per_minute
                bucket.refill(now)
                implied = min(1.0, remaining / scale) * bucket.capacity
                if implied < bucket.level:
                    bucket.level = implied
                if remaining == 0:
                    reset = parse_go_duration(lower.get(f"x-ratelimit-reset-{kind}", ""))
                    if reset is not None and reset > 0:
                        bucket.pause_until(now + min(reset, 60.0))

    estimate_tokens = staticmethod(estimate_tokens)

    def pause(self, key: LimitKey, kind: str | None, seconds: float) -> None:
        """After a 429: nothing of `kind` (both if None) leaves for `key` for `seconds`.

        `kind` is "requests", "tokens" (see `limit_kind`) or None. Only the named bucket
        of this one key is paused; other models and servers go on.
        """
        if kind not in ("requests", "tokens", None):
            raise ValueError(f"kind must be 'requests', 'tokens' or None, got {kind!r}")
        if not (math.isfinite(seconds) and seconds > 0):
            return
        with self._lock:
            now = self._clock()
            state = self._state(key)
            kinds: tuple[str, ...] = (kind,) if kind is not None else ("requests", "tokens")
            for k in kinds:
                bucket = self._bucket(state, k)
                if bucket is not None:
                    bucket.refill(now)
                    bucket.pause_until(now + seconds)
                else:
                    previous = state.paused_until.get(k, -math.inf)
                    state.paused_until[k] = max(previous, now + seconds)

    def snapshot(self, key: LimitKey) -> dict[str, Any]:
        """Limits, levels, pauses and queue length of `key`, for display and debugging."""
        with self._lock:
            now = self._clock()
            state = self._state(key)
            out: dict[str, Any] = {"key": key, "waiting": len(state.waiting)}
            for kind in ("requests", "tokens"):
                bucket = self._bucket(state, kind)
                if bucket is None:
                    pause = state.paused_until.get(kind, -math.inf) - now
                    out[kind] = {
                        "limit_per_minute": None,
                        "paused_for": max(0.0, pause),
                    }
                    continue
                bucket.refill(now)
                out[kind] = {
                    "limit_per_minute": bucket.limit_per_minute,
                    "source": "headers" if kind in state.learned else "settings",
                    "capacity": bucket.capacity,
                    "level": bucket.level,
                    "paused_for": max(0.0, bucket.paused_until - now),
                }
            return out


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _positive(value: str | None) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None
