"""What a batch run reports while it runs (`BatchProgress`) and when it ends (`BatchSummary`).

Rates are measured over the last `RATE_WINDOW` seconds, so the ETA follows the speed the
rate limiter currently allows rather than the average since the start.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BatchProgress", "BatchSummary", "RateMeter"]

RATE_WINDOW = 20.0


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot of a running batch. `total` is None while the input size is unknown.

    `done` counts every line present in the output, `resumed` those an earlier run
    wrote. Rates are per minute over the recent past; `eta` is in seconds.
    """

    total: int | None
    done: int
    resumed: int
    succeeded: int
    failed: int
    in_flight: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    cost_estimated: bool
    elapsed: float
    requests_per_minute: float
    tokens_per_minute: float
    eta: float | None
    retries: int = 0
    rate_limited: int = 0
    stopping: str | None = None


@dataclass(frozen=True)
class BatchSummary:
    """How a run ended.

    `stopped` is None when every line was tried, else why it stopped early:
    `"interrupted"` (Ctrl-C / `stop()`), `"budget"` (the next request could have
    exceeded `--budget`). `succeeded` and `failed` count the answers received; `dropped`
    of them were held back by `--ordered` behind a gap and not written. `not_run` lines
    (the dropped ones included) are picked up by running again.
    """

    output: Path
    total: int | None
    resumed: int
    succeeded: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    cost_estimated: bool
    elapsed: float
    stopped: str | None = None
    dropped: int = 0
    unpriced_models: tuple[str, ...] = ()
    retries: int = 0
    rate_limited: int = 0
    torn_bytes: int = 0
    budget: float | None = None

    @property
    def not_run(self) -> int | None:
        if self.total is None:
            return None
        return max(0, self.total - self.written)

    @property
    def written(self) -> int:
        """Lines in the output file now, from this run and earlier ones."""
        return self.resumed + self.succeeded + self.failed - self.dropped

    @property
    def complete(self) -> bool:
        """Every input line has a line in the output (answered or failed)."""
        return self.not_run == 0

    @property
    def exit_code(self) -> int:
        """130 interrupted; 1 when a line failed or lines are left; 0 otherwise."""
        if self.stopped == "interrupted":
            return 130
        return 1 if self.failed or not self.complete else 0

    @property
    def requests_per_minute(self) -> float:
        sent = self.succeeded + self.failed
        return sent / self.elapsed * 60 if self.elapsed > 0 else 0.0


class RateMeter:
    """Requests and tokens finished per second, in one-second bins over a window."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._bins: deque[list[float]] = deque()  # [second, requests, tokens]

    def add(self, now: float, tokens: int) -> None:
        second = math.floor(now)
        if self._bins and self._bins[-1][0] == second:
            self._bins[-1][1] += 1
            self._bins[-1][2] += tokens
        else:
            self._bins.append([second, 1, tokens])
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._bins and self._bins[0][0] < now - self.window:
            self._bins.popleft()

    def per_minute(self, now: float, started: float) -> tuple[float, float]:
        """(requests/min, tokens/min) over the window (or since `started` if shorter)."""
        self._trim(now)
        span = min(self.window, max(now - started, 1e-6))
        requests = sum(b[1] for b in self._bins)
        tokens = sum(b[2] for b in self._bins)
        return requests / span * 60, tokens / span * 60
