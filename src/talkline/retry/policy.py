"""The retry policy: how many times to retry and how long to wait (`RetryPolicy.decide`).

Pure: the jitter draw and the clock are passed in. The rules are in the package doc.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..errors import APIError, ParamError
from .classify import effective, is_retryable
from .delays import server_delay

__all__ = ["Decision", "RetryPolicy"]


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
        err = effective(error)
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
