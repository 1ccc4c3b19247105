"""When to send a failed request again, and how long to wait first.

Pure decision logic (`RetryPolicy.decide`) plus two thin runners (`RetryRunner`,
`AsyncRetryRunner`) that drive the same `RetryState`, so the sync and async paths cannot
drift apart. No I/O: sleep, randomness and the clock are injected.

Rules (see REFERENCE.md, "Retrying"):

* Retried: connection errors and timeouts, 408, 409, 429 rate limits, >= 500 (HTML proxy
  pages included), broken streams (classified by their cause when it is an API error).
* Never retried: 400/422, 401, 403, 404, quota 429s (quota, billing, spend limit, "Request
  too large"), settings/parameter/budget errors, and anything that is not a talkline error.
* `x-should-retry: true|false` overrides the status rules, except for quota errors: waiting
  can never fix those, whatever a proxy says.
* The server's delay (`retry-after-ms`, `retry-after`, "try again in 1.146s") is used
  exactly when 0 < delay <= `max_server_wait`; longer, we give up and say when to try
  again. Otherwise exponential backoff with jitter, like the official client.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from .errors import (
    APIConnectionError,
    APIError,
    ConflictError,
    ParamError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StreamInterrupted,
    TalklineError,
    is_quota_error,
)
from .ratelimit import parse_go_duration

__all__ = [
    "AsyncRetryRunner",
    "Decision",
    "RetryEvent",
    "RetryPolicy",
    "RetryRunner",
    "RetryState",
    "is_retryable",
    "server_delay",
]

T = TypeVar("T")

# --------------------------------------------------------------------------- server delay

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


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Decision:
    """What to do after a failed attempt.

    `retry`: send again after `delay` seconds. `reason`: one human sentence, for logs and
    `RetryEvent`. `hint`: set when giving up with advice the user needs (the server asked
    to wait longer than `max_server_wait`); the runner appends it to the error's hint.
    """

    retry: bool
    delay: float
    reason: str
    hint: str | None = None


def _describe(error: BaseException) -> str:
    name = type(error).__name__
    status = getattr(error, "status", None)
    return f"{name} (HTTP {status})" if isinstance(status, int) else name


def _effective(error: BaseException) -> BaseException:
    """A broken stream is classified by its cause when the cause is an API error."""
    if isinstance(error, StreamInterrupted) and isinstance(error.cause, APIError):
        return error.cause
    return error


def _header(error: APIError, name: str) -> str | None:
    for key, value in error.headers.items():
        if key.lower() == name:
            return str(value)
    return None


def is_retryable(error: BaseException) -> tuple[bool, str]:
    """Whether sending again could succeed, ignoring retry counts; with the reason why."""
    err = _effective(error)
    if not isinstance(err, TalklineError):
        return False, f"{type(err).__name__} is not a talkline error: not retried"
    if isinstance(err, QuotaExceededError):
        return False, f"{_describe(err)}: a quota or billing limit, waiting will not help"
    if isinstance(err, APIError):
        should = (_header(err, "x-should-retry") or "").strip().lower()
        if should == "true":
            return True, f"{_describe(err)}: the server says x-should-retry: true"
        if should == "false":
            return False, f"{_describe(err)}: the server says x-should-retry: false"
    retryable_classes = (
        APIConnectionError,
        RequestTimeoutError,
        ConflictError,
        RateLimitError,
        ServerError,
        StreamInterrupted,
    )
    if isinstance(err, retryable_classes):
        return True, f"{_describe(err)} is retryable"
    if type(err) is APIError and err.status is not None:
        # A bare APIError (not mapped to a subclass): fall back on its status.
        if err.status == 429 and is_quota_error(err.code, err.type, err.message):
            return False, f"{_describe(err)}: a quota or billing limit, waiting will not help"
        if err.status in (408, 409, 429) or err.status >= 500:
            return True, f"{_describe(err)} is retryable"
    return False, f"{_describe(err)} is not retryable"


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"


def _clock_time(epoch: float, seconds_ahead: float) -> str:
    fmt = "%Y-%m-%d %H:%M:%S" if seconds_ahead >= 86400 else "%H:%M:%S"
    try:
        return time.strftime(fmt, time.localtime(epoch))
    except (OverflowError, ValueError, OSError):
        return "much later"


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait (defaults match the official client).

    `max_retries` retries means up to `max_retries + 1` attempts. The backoff delay for
    retry n (from 0) is `min(initial_delay * 2**n, max_delay)` times a jitter factor drawn
    in `jitter`. A server-given delay is used exactly (no jitter) up to `max_server_wait`.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: tuple[float, float] = (0.75, 1.0)
    max_server_wait: float = 120.0

    def __post_init__(self) -> None:
        r = self.max_retries
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= 100:
            raise ParamError(f"retries must be between 0 and 100, got {r!r}")
        for name in ("initial_delay", "max_delay"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise ParamError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if isinstance(self.jitter, list):  # e.g. from a TOML config file
            object.__setattr__(self, "jitter", tuple(self.jitter))
        j = self.jitter
        if (
            not isinstance(j, tuple)
            or len(j) != 2
            or not all(_is_number(x) and math.isfinite(x) for x in j)
            or not 0 <= j[0] <= j[1]
        ):
            raise ParamError(f"jitter must be a pair (low, high) with 0 <= low <= high, got {j!r}")
        w = self.max_server_wait
        if not _is_number(w) or math.isnan(w) or w < 0:
            raise ParamError(f"max_server_wait must be a number of seconds >= 0, got {w!r}")

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def backoff(self, retry_number: int, rand: float) -> float:
        """Delay before retry `retry_number` (0 for the first retry); `rand` in [0, 1)."""
        n = min(max(0, retry_number), 64)  # 2**64 * anything >= max_delay; avoids overflow
        base = min(self.initial_delay * 2.0**n, self.max_delay)
        low, high = self.jitter
        rand = min(max(rand, 0.0), 1.0)
        return base * (low + (high - low) * rand)

    def decide(
        self,
        error: BaseException,
        retries_done: int,
        *,
        rand: float,
        now: float | None = None,
    ) -> Decision:
        """Retry or not after `error`, having already retried `retries_done` times.

        `rand` in [0, 1) draws the jitter; `now` (epoch seconds, default `time.time()`)
        is used for `retry-after` HTTP dates and to say when to try again.
        """
        retryable, why = is_retryable(error)
        if not retryable:
            return Decision(False, 0.0, why)
        err = _effective(error)
        wait: float | None = None
        if isinstance(err, APIError):
            now = time.time() if now is None else now
            wait = server_delay(err.headers, err.message, now=now)
        if wait is not None and wait > self.max_server_wait:
            now = time.time() if now is None else now
            until = _clock_time(now + wait, wait)
            reason = f"the server asks to wait {_fmt_seconds(wait)} (until {until}); try again then"
            return Decision(False, 0.0, reason, hint=reason[0].upper() + reason[1:] + ".")
        if retries_done >= self.max_retries:
            return Decision(False, 0.0, "no retries left")
        if wait is not None and wait > 0:
            return Decision(True, wait, f"{why}; the server asks to wait {_fmt_seconds(wait)}")
        delay = self.backoff(retries_done, rand)
        return Decision(True, delay, f"{why}; backing off {_fmt_seconds(delay)}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- runners


@dataclass(frozen=True)
class RetryEvent:
    """Passed to `on_retry` before each wait: `attempt` (1-based) failed with `error`."""

    attempt: int
    max_attempts: int
    error: BaseException
    delay: float
    reason: str


class RetryState:
    """One call's progress through its attempts; both runners drive it, so they agree.

    Use: call with `state.attempt`; on an exception call `state.failed(exc)`: it returns
    the seconds to sleep before the next attempt, or None to give up (the error has then
    been given `attempts` and, if useful, a hint: re-raise it).
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        rand: Callable[[], float],
        clock: Callable[[], float],
        on_retry: Callable[[RetryEvent], None] | None,
    ) -> None:
        self.policy = policy
        self.attempt = 1
        self._rand = rand
        self._clock = clock
        self._on_retry = on_retry

    def failed(self, error: BaseException) -> float | None:
        decision = self.policy.decide(error, self.attempt - 1, rand=self._rand(), now=self._clock())
        if not decision.retry:
            if isinstance(error, TalklineError):
                error.attempts = self.attempt
                if decision.hint:
                    error.hint = f"{error.hint} {decision.hint}" if error.hint else decision.hint
            return None
        if self._on_retry is not None:
            self._on_retry(
                RetryEvent(
                    attempt=self.attempt,
                    max_attempts=self.policy.max_attempts,
                    error=error,
                    delay=decision.delay,
                    reason=decision.reason,
                )
            )
        self.attempt += 1
        return decision.delay


class RetryRunner:
    """Calls `fn(attempt)` until it succeeds or the policy gives up (then re-raises).

    Only `Exception`s are considered: KeyboardInterrupt and friends pass straight through.
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._on_retry = on_retry

    def start(self) -> RetryState:
        """A fresh state, for callers that need to drive the loop themselves."""
        return RetryState(self.policy, rand=self._rand, clock=self._clock, on_retry=self._on_retry)

    def call(self, fn: Callable[[int], T]) -> T:
        state = self.start()
        while True:
            try:
                return fn(state.attempt)
            except Exception as exc:
                delay = state.failed(exc)
                if delay is None:
                    raise
            self._sleep(delay)


class AsyncRetryRunner:
    """The asyncio twin of `RetryRunner` (cancellation is never retried)."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        asleep: Callable[[float], Awaitable[Any]] | None = None,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        if asleep is None:
            import asyncio  # lazily: the sync start-up path never needs asyncio

            asleep = asyncio.sleep
        self.policy = policy or RetryPolicy()
        self._asleep = asleep
        self._rand = rand
        self._clock = clock
        self._on_retry = on_retry

    def start(self) -> RetryState:
        """A fresh state, for callers that need to drive the loop themselves."""
        return RetryState(self.policy, rand=self._rand, clock=self._clock, on_retry=self._on_retry)

    async def call(self, fn: Callable[[int], Awaitable[T]]) -> T:
        state = self.start()
        while True:
            try:
                return await fn(state.attempt)
            except Exception as exc:
                delay = state.failed(exc)
                if delay is None:
                    raise
            await self._asleep(delay)
