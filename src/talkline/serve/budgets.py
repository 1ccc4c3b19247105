"""Budgets per gateway key, per UTC day and month, checked before a request is sent.

The estimate is the CLI's own (`Preflight.worst_case`: the prompt and every output token
the request may take); what was spent is what the store holds for conversations labelled
with the key's name. As in `planning.costs`, a model of unknown price passes, except
under a budget of 0.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from starlette.responses import JSONResponse

from ..errors import BudgetExceededError
from ..planning.costs import format_usd
from ..store import ConversationStore, GatewayKey
from .auth import error_response
from .keys import day_period, key_spending, month_period

__all__ = ["BudgetGuard", "KeyBudgetExceededError", "budget_response", "check_budget"]


class KeyBudgetExceededError(BudgetExceededError):
    """A gateway key's daily or monthly budget has less left than the request may cost.

    Sent to the client as HTTP 429 with `code: insufficient_quota`, what OpenAI answers
    when an account's quota is spent: SDKs raise their rate-limit error for it and tools
    show its message; `x-should-retry: false` keeps the official SDKs from retrying a
    refusal that holds until `resets_at`.
    """

    def __init__(self, message: str, *, hint: str, key_name: str, period: str,
                 limit: float, spent: float, resets_at: float) -> None:
        super().__init__(message, hint=hint)
        self.key_name = key_name
        self.period = period
        self.limit = limit
        self.spent = spent
        self.resets_at = resets_at


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def check_budget(store: ConversationStore, key: GatewayKey, estimated_cost: float | None,
                 *, now: float | None = None, in_flight: float = 0.0) -> None:
    """Raise `KeyBudgetExceededError` when `estimated_cost` (USD, None: price unknown) is
    more than what is left of `key`'s daily or monthly budget; the one with less left is
    named. `in_flight`: the worst cases of the key's requests still under way, counted as
    spent (see `BudgetGuard`)."""
    if key.daily_budget is None and key.monthly_budget is None:
        return
    now = time.time() if now is None else now
    spending = key_spending(store, key, now)
    limits = [(period, limit, spent + in_flight, reset)
              for period, limit, spent, reset in (
                  ("daily", key.daily_budget, spending.today, day_period(now)[1]),
                  ("monthly", key.monthly_budget, spending.this_month, month_period(now)[1]))
              if limit is not None]
    if estimated_cost is None:
        over = [item for item in limits if item[1] <= 0]
    else:
        over = [item for item in limits if estimated_cost > item[1] - item[2] + 1e-12]
    if not over:
        return
    period, limit, spent, reset = min(over, key=lambda item: item[1] - item[2])
    left = max(0.0, limit - spent)
    budget = f"the {period} budget of the gateway key {key.name!r} ({format_usd(limit)})"
    if estimated_cost is None:
        first = (f"The price of this model is unknown and {budget} allows nothing to be "
                 "spent.")
    elif left <= 0:
        first = f"{format_usd(spent)} of {budget} is spent: nothing is left."
    else:
        first = (f"This request could cost up to {format_usd(estimated_cost)} but only "
                 f"{format_usd(left)} is left of {budget}.")
    raise KeyBudgetExceededError(
        f"{first} Nothing was sent. The {period} budget resets at {_when(reset)}.",
        hint="Wait until then, lower max_tokens, or ask the gateway's owner to raise the "
        f"budget (talkline serve keys budget {key.name} --{period} USD).",
        key_name=key.name, period=period, limit=limit, spent=spent, resets_at=reset,
    )


class BudgetGuard:
    """Budgets checked for requests running at once: each request's worst case is held
    from its check until its exchange is stored, so that two requests of one key cannot
    both pass on the same money left.

    ```python
    with guard.reserve(key, preflight.worst_case(prepared, model)):
        ...  # send, then store the exchange labelled key.name
    ```
    """

    def __init__(self, store: ConversationStore, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._held: dict[str, float] = {}
        self._lock = threading.Lock()

    def held(self, key: GatewayKey) -> float:
        with self._lock:
            return self._held.get(key.id, 0.0)

    @contextmanager
    def reserve(self, key: GatewayKey, estimated_cost: float | None) -> Iterator[None]:
        """Check `key`'s budget counting what its running requests may still spend, and
        hold `estimated_cost` until the block ends (store the exchange inside it)."""
        amount = estimated_cost or 0.0
        with self._lock:
            check_budget(self.store, key, estimated_cost, now=self.clock(),
                         in_flight=self._held.get(key.id, 0.0))
            self._held[key.id] = self._held.get(key.id, 0.0) + amount
        try:
            yield
        finally:
            with self._lock:
                left = self._held.get(key.id, 0.0) - amount
                if left > 1e-12:
                    self._held[key.id] = left
                else:
                    self._held.pop(key.id, None)


def budget_response(exc: KeyBudgetExceededError) -> JSONResponse:
    """The refusal as the client sees it: 429, `insufficient_quota`, no retry."""
    return error_response(429, f"{exc.message} {exc.hint}", "insufficient_quota",
                          "insufficient_quota", headers={"x-should-retry": "false"})
