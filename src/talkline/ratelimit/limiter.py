"""`RateLimiter`: one per client, shared by its threads and tasks, keyed by
`(base_url, model)`; a request leaves only when both its buckets (requests, tokens) hold
enough. Nothing here sleeps on its own: `acquire`/`aacquire` take an injectable sleep."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .bucket import MIN_WAIT, TokenBucket
from .charges import estimate_tokens
from .durations import parse_go_duration

__all__ = ["LimitKey", "RateLimiter", "Reservation"]

LimitKey = tuple[str, str]
"""`(base_url, model)`: the server keeps separate limits per model."""

_PROBE_POLL = 0.01  # how often waiters look whether the probe request has answered


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
            return Reservation(key, tokens, max(wait, MIN_WAIT))
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
