"""What a request costs, and whether it may be sent under the user's budgets. Pure: the
amounts already spent are passed in (the store knows them).

Pricing rules (USD per million tokens, from `talkline.catalog`):

- cached prompt tokens (`usage.cached_tokens`) are part of `prompt_tokens`: they are priced
  at the cached rate and the rest at the input rate; a model without a cached rate charges
  them at the input rate;
- reasoning tokens (`usage.reasoning_tokens`) are part of `completion_tokens` and priced as
  output: they are shown in the breakdown, never added a second time;
- a batch request uses the batch rates; cached tokens in a batch get the catalog's
  `batch_cached_input` rate, else the cached rate with the same discount as the batch
  input rate. A model with no batch price in the catalog is charged half its standard
  rates (the Batch API's discount), and the cost is marked as an estimate;
- a request with more input tokens than a price tier's `above` (gpt-5.4: 272,000) is
  priced at that tier for the whole request, input, cached input and output, as OpenAI's
  pricing page and litellm's `*_above_272k_tokens` prices state. A price the tier leaves
  out is the model's own.

A model without input and output prices has no cost (`None`): show `price_notice(model)`
once. Budgets cannot be checked for such a model, so `check_budget` lets its requests
through: refusing would make every budget block local and self-hosted models, which are
the usual unknown ones. The caller warns once with `price_notice`. A budget of 0 is the
exception: zero means nothing may be spent, so a model whose price is unknown is refused
under it (the embedded model is free and never reaches `check_budget`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import BudgetExceededError
from ..types import Usage
from .catalog import Catalog, ModelInfo, default_catalog

__all__ = [
    "Budget",
    "Cost",
    "check_budget",
    "cost_of",
    "estimate_cost",
    "format_usd",
    "price_notice",
    "worst_case_cost",
]

_PER = 1_000_000


@dataclass(frozen=True)
class Cost:
    """A request's cost in USD. `estimated` is True when the token numbers or the prices
    were guessed (no usage from the server, no batch price known)."""

    amount: float
    estimated: bool
    model: str
    input: float = 0.0
    cached_input: float = 0.0
    output: float = 0.0
    reasoning: float = 0.0  # the part of `output` spent on reasoning tokens
    batch: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "amount": self.amount,
            "estimated": self.estimated,
            "model": self.model,
            "input": self.input,
            "cached_input": self.cached_input,
            "output": self.output,
            "reasoning": self.reasoning,
            "batch": self.batch,
        }


@dataclass(frozen=True)
class _Rates:
    input: float
    cached_input: float
    output: float
    guessed: bool


def _tiered(info: ModelInfo, prompt_tokens: int) -> ModelInfo:
    """`info` with the prices of the tier `prompt_tokens` falls in laid over its own."""
    tier = info.tier_for(prompt_tokens)
    if tier is None:
        return info
    prices = {k: v for k, v in dataclasses.asdict(tier).items()
              if k != "above" and v is not None}
    return dataclasses.replace(info, **prices)


def _rates(info: ModelInfo, batch: bool, prompt_tokens: int = 0) -> _Rates | None:
    info = _tiered(info, prompt_tokens)
    if info.input is None or info.output is None:
        return None
    cached = info.cached_input if info.cached_input is not None else info.input
    if not batch:
        return _Rates(info.input, cached, info.output, False)
    if info.batch_input is not None and info.batch_output is not None:
        discount = info.batch_input / info.input if info.input else 1.0
        batch_cached = (info.batch_cached_input if info.batch_cached_input is not None
                        else cached * discount)
        return _Rates(info.batch_input, batch_cached, info.batch_output, False)
    return _Rates(info.input / 2, cached / 2, info.output / 2, True)


def _info(model: str, catalog: Catalog | None) -> ModelInfo | None:
    return (catalog or default_catalog()).lookup(model)


def _price(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    reasoning_tokens: int,
    *,
    batch: bool,
    estimated: bool,
    catalog: Catalog | None,
) -> Cost | None:
    info = _info(model, catalog)
    rates = _rates(info, batch, prompt_tokens) if info is not None else None
    if rates is None:
        return None
    cached = min(max(cached_tokens, 0), max(prompt_tokens, 0))
    uncached = max(prompt_tokens, 0) - cached
    reasoning = min(max(reasoning_tokens, 0), max(completion_tokens, 0))
    input_cost = uncached * rates.input / _PER
    cached_cost = cached * rates.cached_input / _PER
    output_cost = max(completion_tokens, 0) * rates.output / _PER
    return Cost(
        amount=input_cost + cached_cost + output_cost,
        estimated=estimated or rates.guessed,
        model=model,
        input=input_cost,
        cached_input=cached_cost,
        output=output_cost,
        reasoning=reasoning * rates.output / _PER,
        batch=batch,
    )


def cost_of(
    model: str, usage: Usage, *, batch: bool = False, catalog: Catalog | None = None
) -> Cost | None:
    """The cost of a reply from the `usage` the server sent; None when no price is known."""
    return _price(
        model,
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens,
        usage.reasoning_tokens,
        batch=batch,
        estimated=False,
        catalog=catalog,
    )


def estimate_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    cached_tokens: int = 0,
    batch: bool = False,
    catalog: Catalog | None = None,
) -> Cost | None:
    """A cost from counted tokens, for a reply whose usage the server did not send
    (an interrupted stream, a server that omits it). Always marked as an estimate."""
    return _price(
        model,
        prompt_tokens,
        completion_tokens,
        cached_tokens,
        0,
        batch=batch,
        estimated=True,
        catalog=catalog,
    )


def worst_case_cost(
    model: str,
    prompt_tokens: int,
    max_output_tokens: int | None,
    n: int = 1,
    *,
    batch: bool = False,
    catalog: Catalog | None = None,
) -> float | None:
    """The most a request can cost: no prompt cache hit, and each of the `n` choices as
    long as allowed. With `max_output_tokens` None, the model's maximum output (or what
    is left of its window) is assumed. None when no price (or output limit) is known."""
    info = _info(model, catalog)
    rates = _rates(info, batch, prompt_tokens) if info is not None else None
    if info is None or rates is None:
        return None
    if max_output_tokens is None:
        limits = [x for x in (
            info.max_output,
            info.context_window - prompt_tokens if info.context_window else None,
        ) if x is not None]
        if not limits:
            return None
        max_output_tokens = max(0, min(limits))
    return (prompt_tokens * rates.input + max(n, 1) * max_output_tokens * rates.output) / _PER


# ---------------------------------------------------------------- budgets


@dataclass(frozen=True)
class Budget:
    """Spending limits in USD; None means no limit, 0 means nothing may be spent. `daily`
    and `monthly` come from config.toml (`daily_budget`, `monthly_budget`), `per_command`
    from `--budget`."""

    daily: float | None = None
    monthly: float | None = None
    per_command: float | None = None

    @property
    def is_set(self) -> bool:
        return any(x is not None for x in (self.daily, self.monthly, self.per_command))

    @classmethod
    def from_settings(cls, values: Mapping[str, object], per_command: float | None = None
                      ) -> Budget:
        """From config values `daily_budget` / `monthly_budget` and the `--budget` flag."""

        def num(key: str) -> float | None:
            value = values.get(key)
            return float(value) if isinstance(value, (int, float)) else None

        return cls(num("daily_budget"), num("monthly_budget"), per_command)


def format_usd(amount: float) -> str:
    """`$1.00`, `$0.0123`, `$0.00045`: under a tenth of a cent, two significant digits."""
    if amount >= 1 or amount == 0:
        return f"${amount:,.2f}"
    if amount >= 0.001:
        return f"${amount:.4f}"
    digits = 1
    while amount * 10**digits < 10 and digits < 12:
        digits += 1
    return f"${amount:.{digits}f}".rstrip("0").rstrip(".")


def check_budget(
    budget: Budget,
    worst_case: float | None,
    spent_today: float,
    spent_this_month: float,
    spent_this_command: float = 0.0,
) -> None:
    """Raise `BudgetExceededError` when `worst_case` is more than what is left of a limit.

    A per-command budget (`--budget`) is the user's explicit allowance for this command: it
    replaces the daily and monthly limits for it. Otherwise the daily and monthly limits
    are both checked and the one with less left is named. `worst_case` None (no price
    known) passes, except under a limit of 0; see the module doc.
    """
    if budget.per_command is not None:
        limits = [("per_command", budget.per_command, spent_this_command)]
    else:
        limits = [
            (kind, limit, spent)
            for kind, limit, spent in (
                ("daily", budget.daily, spent_today),
                ("monthly", budget.monthly, spent_this_month),
            )
            if limit is not None
        ]
    if worst_case is None:
        zero = [kind for kind, limit, _ in limits if limit <= 0]
        if zero:
            raise BudgetExceededError(
                f"The price of this model is unknown and {_limit_name(zero[0], 0.0)} allows "
                "nothing to be spent. Nothing was sent.",
                hint=f"Raise {_SETTING[zero[0]]} above 0, or give the model's price under "
                "[catalog.MODEL] in config.toml.",
            )
        return
    over = [(limit - spent, kind, limit, spent) for kind, limit, spent in limits
            if worst_case > limit - spent + 1e-12]
    if not over:
        return
    _, kind, limit, spent = min(over)
    left = max(0.0, limit - spent)
    name = _limit_name(kind, limit)
    if limit <= 0:
        message = (f"This request could cost up to {format_usd(worst_case)} and {name} allows "
                   "nothing to be spent. Nothing was sent.")
    elif left <= 0:
        message = (f"You have spent {format_usd(spent)} of {name}: nothing is left. "
                   "Nothing was sent.")
    else:
        message = (f"This request could cost up to {format_usd(worst_case)} but only "
                   f"{format_usd(left)} is left of {name}. Nothing was sent.")
    raise BudgetExceededError(message, hint=_HINTS[kind])


_SETTING = {"per_command": "--budget", "daily": "`daily_budget`", "monthly": "`monthly_budget`"}
_HINTS = {
    "per_command": "Raise it with --budget, or lower max_tokens.",
    "daily": "Raise it with --budget or `daily_budget` in config.toml, or lower max_tokens.",
    "monthly": "Raise it with --budget or `monthly_budget` in config.toml, "
               "or lower max_tokens.",
}


def _limit_name(kind: str, limit: float) -> str:
    return {
        "per_command": f"the budget for this command ({format_usd(limit)}, --budget)",
        "daily": f"your daily budget ({format_usd(limit)})",
        "monthly": f"your monthly budget ({format_usd(limit)})",
    }[kind]


def price_notice(model: str) -> str:
    """The sentence to show (once) when `model` has no known price."""
    return (f"No price known for {model}: costs are not shown. "
            f"Add it under [catalog.{model}] in config.toml.")
