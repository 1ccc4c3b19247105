"""One call's walk through its attempts (`RetryState`), what `on_retry` is told before each
wait (`RetryEvent`), and `RetryRunner`, which drives a state around a plain function."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import APIError, StreamInterrupted, TalklineError
from .policy import RetryPolicy

__all__ = ["RetryEvent", "RetryRunner", "RetryState"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryEvent:
    """Passed to `on_retry` before each wait: facts to show, not a sentence to parse.

    * `attempt`: the attempt that failed (1-based); the next one is `attempt + 1`.
    * `max_attempts`: how many attempts the policy allows in all.
    * `error`: the failure (a `StreamInterrupted` for a broken stream; see its `cause`).
    * `delay`: the seconds waited before the next attempt.
    * `why`: the policy's reason for retrying, one line for logs ("ServerError (HTTP 502)
      is retryable; backing off 0.5 s").
    * `after_tokens`: when a stream broke after the caller had been shown content, how
      many content deltas (about a token each) it had been shown; the caller then gets
      deltas with `restart=True` and should drop them. None when nothing had been shown.

    `reason` is a sentence made from these fields, for display only.
    """

    attempt: int
    max_attempts: int
    error: BaseException
    delay: float
    why: str = ""
    after_tokens: int | None = None

    @property
    def reason(self) -> str:
        """One human sentence: the policy's reason, or what broke after how many tokens."""
        if self.after_tokens is None:
            return self.why
        err = self.error
        cause = err.cause if isinstance(err, StreamInterrupted) else err
        what = (f"the server sent an error after {self.after_tokens} tokens ({cause.message})"
                if isinstance(cause, APIError)
                else f"connection dropped after {self.after_tokens} tokens")
        return f"{what}; retried (attempt {self.attempt + 1} of {self.max_attempts})"


class RetryState:
    """One call's progress through its attempts; every loop that retries drives one.

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

    def failed(self, error: BaseException, *, after_tokens: int | None = None) -> float | None:
        """The wait before the next attempt, or None to give up. `after_tokens`: see
        `RetryEvent` (how much of a broken stream the caller had been shown)."""
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
                    why=decision.reason,
                    after_tokens=after_tokens,
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
