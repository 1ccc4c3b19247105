"""Before a request leaves: fit the model's window, cap `max_tokens`, check the budget.

Pure but for reading what was spent from the store. `ChatSession` and the batch runner
call it; nothing here sends anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BudgetExceededError, ContextLengthExceededError
from ..types import ChatParams, Message, Usage
from .context import FitResult, Summary, fit_to_context, trim_for_server_error
from .costs import (
    Budget,
    check_budget,
    cost_of,
    estimate_cost,
    format_usd,
    price_notice,
    worst_case_cost,
)
from .inputs import check_inputs
from .local_counts import local_counters
from .tokens import TokenCounter as TokenCounter
from .user_catalog import catalog_for

if TYPE_CHECKING:
    from ..settings import Settings as Settings
    from ..store import ConversationStore
    from .costs import Cost as Cost

__all__ = ["Preflight", "Prepared", "uses_max_completion_tokens"]

_O_SERIES = ("o1", "o3", "o4", "gpt-5")


def uses_max_completion_tokens(model: str) -> bool:
    """o-series and gpt-5 refuse `max_tokens`; they take `max_completion_tokens`."""
    return model.split("/")[-1].startswith(_O_SERIES)


@dataclass
class Prepared:
    """What to send, and what the user should be told about it."""

    messages: list[Message]
    params: ChatParams
    fit: FitResult | None = None
    worst_case: float | None = None
    notices: list[str] = field(default_factory=list)


def _start_of_day(now: float) -> float:
    d = dt.datetime.fromtimestamp(now)
    return d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _start_of_month(now: float) -> float:
    d = dt.datetime.fromtimestamp(now)
    return d.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def _surely_fits(messages: Sequence[Message], window: int, max_output: int | None,
                 max_input: int | None = None) -> bool:
    """A token is at least one byte: when the bytes (plus the per-message overhead) and the
    whole output fit, the exact count cannot say otherwise. Saves loading the tokenizer
    (~0.4 s) for the common short prompt."""
    if max_output is None or any(not isinstance(m.content, (str, type(None)))
                                 for m in messages):
        return False  # an image's tokens are not bounded by its text's bytes
    upper = 3 + sum(8 + len(m.text.encode("utf-8")) + len(m.name or "") for m in messages)
    upper += sum(len(tc.arguments) + len(tc.name) + 8 for m in messages for tc in m.tool_calls)
    return upper + max_output <= window and (max_input is None or upper <= max_input)


class Preflight:
    """One per command run: it also counts what this command spent (for `--budget`)."""

    def __init__(self, settings: Settings, *, store: ConversationStore | None = None,
                 counter: TokenCounter | None = None) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog_for(settings)
        self.counter = counter or TokenCounter(exact=local_counters(settings),
                                               catalog=self.catalog)
        self.spent_this_command = 0.0
        self._told: set[str] = set()
        values: dict[str, Any] = {"daily_budget": settings.daily_budget,
                                  "monthly_budget": settings.monthly_budget}
        self.budget = Budget.from_settings(values, settings.budget)

    # -- the window

    def window(self, model: str) -> tuple[int, int | None] | None:
        info = self.catalog.lookup(model)
        if info is None or not info.context_window:
            return None
        return int(info.context_window), info.max_output

    def _max_field(self, model: str) -> str:
        return "max_completion_tokens" if uses_max_completion_tokens(model) else "max_tokens"

    def prepare(self, messages: Sequence[Message], model: str, params: ChatParams, *,
                summary: Summary | None = None, strategy: str | None = None,
                budget: bool = True) -> Prepared:
        """Fit `messages` into the model's window and check the budget; raise
        `ContextLengthExceededError` or `BudgetExceededError` before anything is sent."""
        check_inputs(messages, model, self.catalog)
        prepared = Prepared(list(messages), params)
        user_max = params.max_completion_tokens or params.max_tokens
        limits = self.window(model)
        info = self.catalog.lookup(model)
        max_input = info.max_input if info is not None else None
        if limits is not None and summary is None and _surely_fits(
            prepared.messages, limits[0], user_max or limits[1], max_input
        ):
            limits = None  # no need to load a tokenizer: even the upper bound fits
        if limits is not None:
            window, model_max = limits
            fit = fit_to_context(
                prepared.messages, model=model, context_window=window,
                max_output=user_max if user_max else model_max,
                user_set_max_tokens=user_max is not None,
                strategy=strategy or self.settings.context_strategy,
                counter=self.counter, summary=summary,
                tools=list(params.tools) if params.tools else None,
                max_input=max_input,
            )
            self._apply(prepared, fit, model, user_max)
        if budget:
            self._check_budget(prepared, model)
        return prepared

    def refit_after_refusal(self, prepared: Prepared, error: ContextLengthExceededError,
                            model: str, *, summary: Summary | None = None) -> Prepared:
        """The server still said the prompt is too long: trim with its numbers, once."""
        limit = error.limit
        if limit is None:
            limits = self.window(model)
            if limits is None:
                raise error
            limit = limits[0]
        params = prepared.params
        user_max = params.max_completion_tokens or params.max_tokens
        fit = trim_for_server_error(
            prepared.messages if prepared.fit is None else prepared.fit.messages,
            limit=limit, requested=error.requested, sent=prepared.fit, model=model,
            max_output=user_max, user_set_max_tokens=user_max is not None,
            counter=self.counter, summary=None,
        )
        again = Prepared(list(prepared.messages), prepared.params)
        self._apply(again, fit, model, user_max if prepared.fit is None else None)
        again.notices.append(
            f"The server refused the prompt as too long ({error.requested or '?'} tokens for "
            f"a window of {limit}); sent again without the oldest turns."
        )
        return again

    def _apply(self, prepared: Prepared, fit: FitResult, model: str,
               user_max: int | None) -> None:
        prepared.fit = fit
        prepared.messages = list(fit.messages)
        if fit.max_tokens is not None and user_max is None:
            prepared.params = prepared.params.merge(**{self._max_field(model): fit.max_tokens})
        if fit.dropped and not fit.summarized:
            prepared.notices.append(
                f"{fit.dropped} earlier messages left out to fit the window "
                f"({fit.prompt_tokens:,}/{fit.context_window:,} tokens)."
            )
        elif fit.summarized:
            prepared.notices.append("Earlier turns are sent as a summary to fit the window.")

    # -- money

    def worst_case(self, prepared: Prepared, model: str) -> float | None:
        """The most `prepared` can cost in USD (its prompt and every output token it may
        take), the estimate budgets are checked with; 0 for the free embedded model, None
        when the model's price is unknown. Also kept in `prepared.worst_case`."""
        if self.settings.is_local_model(model):
            prepared.worst_case = 0.0
            return 0.0
        params = prepared.params
        n = params.n or 1
        max_out = params.max_completion_tokens or params.max_tokens
        if max_out is None:
            limits = self.window(model)
            max_out = limits[1] if limits else None
        prompt = (prepared.fit.prompt_tokens if prepared.fit is not None
                  else self.counter.count_messages(prepared.messages, model).tokens)
        worst = worst_case_cost(model, prompt, max_out, n, catalog=self.catalog)
        prepared.worst_case = worst
        return worst

    def round_check(self, model: str, params: ChatParams
                    ) -> Callable[[Sequence[Message], Usage | None], str | None] | None:
        """For the tool loop: the check made before each round of calls is run, against
        the worst case of the request that will answer them plus what the loop's earlier
        requests cost (not stored yet, so not in the day's or the command's spending);
        its refusal is the reason. None when no budget is set or the model is free."""
        if not self.budget.is_set or self.settings.is_local_model(model):
            return None

        def check(messages: Sequence[Message], usage: Usage | None) -> str | None:
            cost = cost_of(model, usage, catalog=self.catalog) if usage is not None else None
            already = cost.amount if cost is not None else 0.0
            try:
                self._check_budget(Prepared(list(messages), params), model, already=already)
            except BudgetExceededError as exc:
                said = exc.message.removesuffix(" Nothing was sent.").rstrip(".")
                return f"{said}, counting the {format_usd(already)} its earlier requests cost."
            return None

        return check

    def _check_budget(self, prepared: Prepared, model: str, *, already: float = 0.0
                      ) -> None:
        if not self.budget.is_set or self.settings.is_local_model(model):
            return  # no limit set, or the free embedded model: nothing to count
        worst = self.worst_case(prepared, model)
        worst = worst + already if worst is not None else None
        if worst is None:
            check_budget(self.budget, None, 0.0, 0.0)  # refused under a budget of 0
            if model not in self._told:
                self._told.add(model)
                prepared.notices.append(price_notice(model))
            return
        today = month = 0.0
        if self.store is not None and (self.budget.daily or self.budget.monthly):
            import time

            now = time.time()
            today = self.store.spent_between(_start_of_day(now))
            month = self.store.spent_between(_start_of_month(now))
        check_budget(self.budget, worst, today, month, self.spent_this_command)

    def cost(self, model: str, usage: Usage | None, *, prompt_estimate: int | None = None,
             completion_text: str = "", batch: bool = False) -> Cost | None:
        """The reply's cost; an estimate (marked) when the server sent no usage."""
        if usage is not None:
            cost = cost_of(model, usage, batch=batch, catalog=self.catalog)
        else:
            completion = self.counter.count_text(completion_text, model).tokens
            cost = estimate_cost(model, prompt_estimate or 0, completion, batch=batch,
                                 catalog=self.catalog)
        if cost is not None:
            self.spent_this_command += cost.amount
        return cost

    def observe(self, model: str, fit: FitResult | None, usage: Usage | None) -> None:
        """Calibrate the estimate for models without a known tokenizer."""
        if fit is not None and usage is not None and usage.prompt_tokens and not fit.exact:
            self.counter.observe(model, fit.prompt_tokens, usage.prompt_tokens)
