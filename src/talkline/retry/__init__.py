"""When to send a failed request again, and how long to wait first.

Pure decision logic (`RetryPolicy.decide`, in `policy`), the classification of failures
(`classify`), the server's own delays (`delays`), and one call's walk through its attempts
(`RetryState`, in `state`), which the client's loop and `RetryRunner` both drive. No I/O:
sleep, randomness and the clock are injected.

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

from .classify import is_retryable
from .delays import server_delay
from .policy import Decision, RetryPolicy
from .state import RetryEvent, RetryRunner, RetryState

__all__ = [
    "Decision",
    "RetryEvent",
    "RetryPolicy",
    "RetryRunner",
    "RetryState",
    "is_retryable",
    "server_delay",
]
