"""Client-side rate limiting: stay under the server's RPM/TPM limits instead of hitting 429s.

The server enforces its per-minute limits at sub-minute granularity (about one second's
worth at a time, refilled continuously), so a one-minute sliding window would let a whole
minute's allowance through in a burst and get refused. We model each limit as a token
bucket holding `burst_seconds` worth of the limit, refilled continuously, starting full.

Modules: `durations` (Go durations in the reset headers), `charges` (what a request
costs, which limit a 429 names), and two layers:

* `TokenBucket` (`bucket`): pure arithmetic, no clock of its own (every method takes
  `now`), so it can be tested exhaustively with a fake clock.
* `RateLimiter` (`limiter`): one per client, shared by all its threads and tasks, keyed by
  `(base_url, model)`. A request leaves only when both its buckets (requests, tokens) hold
  enough. Limits come from settings (every key) and are overridden per key by what the
  server says in its `x-ratelimit-*` headers.

Nothing here does I/O or sleeps on its own: `acquire`/`aacquire` take an injectable sleep.
"""

from __future__ import annotations

from .bucket import TokenBucket
from .charges import DEFAULT_MAX_TOKENS_ESTIMATE, LimitKind, estimate_tokens, limit_kind
from .durations import parse_go_duration
from .limiter import LimitKey, RateLimiter, Reservation

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
