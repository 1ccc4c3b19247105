"""Costs (cached, reasoning, batch, estimates) and budget refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from talkline.errors import BudgetExceededError
from talkline.planning.catalog import Catalog
from talkline.planning.costs import (
    Budget,
    Cost,
    check_budget,
    cost_of,
    estimate_cost,
    format_usd,
    price_notice,
    worst_case_cost,
)
from talkline.types import Usage

M = 1_000_000


def test_plain_cost() -> None:
    cost = cost_of("gpt-4o", Usage(prompt_tokens=M, completion_tokens=M))
    assert cost == Cost(12.50, False, "gpt-4o", input=2.50, output=10.00)


def test_cached_tokens_are_a_subset_priced_at_the_cached_rate() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=0, cached_tokens=400)
    cost = cost_of("gpt-4o", usage)
    assert cost is not None
    assert cost.input == pytest.approx(600 * 2.50 / M)
    assert cost.cached_input == pytest.approx(400 * 1.25 / M)
    assert cost.amount == pytest.approx((600 * 2.50 + 400 * 1.25) / M)


def test_cached_tokens_without_a_cached_rate_cost_the_input_rate() -> None:
    cost = cost_of("gpt-3.5-turbo", Usage(prompt_tokens=1000, cached_tokens=1000))
    assert cost is not None and cost.amount == pytest.approx(1000 * 0.50 / M)


def test_reasoning_tokens_are_output_and_not_counted_twice() -> None:
    usage = Usage(prompt_tokens=100, completion_tokens=1000, reasoning_tokens=800)
    cost = cost_of("o3", usage)
    assert cost is not None
    assert cost.output == pytest.approx(1000 * 8.00 / M)
    assert cost.reasoning == pytest.approx(800 * 8.00 / M)
    assert cost.amount == pytest.approx((100 * 2.00 + 1000 * 8.00) / M)


def test_batch_prices() -> None:
    usage = Usage(prompt_tokens=M, completion_tokens=M, cached_tokens=M // 2)
    cost = cost_of("gpt-4o-mini", usage, batch=True)
    assert cost is not None and cost.batch and not cost.estimated
    # Uncached at the batch rate; cached at the cached rate with the same (half) discount.
    assert cost.input == pytest.approx(0.5 * 0.075)
    assert cost.cached_input == pytest.approx(0.5 * 0.075 * 0.5)
    assert cost.output == pytest.approx(0.30)


def test_batch_without_a_batch_price_is_half_price_and_an_estimate() -> None:
    # gpt-3.5-turbo has batch prices since the catalog was checked against genai-prices;
    # gpt-4o-audio-preview still has none.
    cost = cost_of("gpt-4o-audio-preview", Usage(prompt_tokens=M, completion_tokens=M),
                   batch=True)
    assert cost is not None and cost.estimated
    assert cost.amount == pytest.approx((2.50 + 10.00) / 2)


def test_dated_snapshot_uses_the_family_price_and_local_is_free() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=1000)
    snap = cost_of("gpt-4o-2024-08-06", usage)
    assert snap is not None and snap.amount == pytest.approx((1000 * 2.5 + 1000 * 10) / M)
    local = cost_of("local", usage)
    assert local is not None and local.amount == 0


def test_unknown_price_has_no_cost_and_a_notice() -> None:
    assert cost_of("llama3.2", Usage(prompt_tokens=10, completion_tokens=10)) is None
    assert worst_case_cost("llama3.2", 10, 10) is None
    assert price_notice("llama3.2") == (
        "No price known for llama3.2: costs are not shown. "
        "Add it under [catalog.llama3.2] in config.toml."
    )


def test_prices_from_config_overrides() -> None:
    catalog = Catalog.load({"llama3.2": {"input": 1.0, "output": 2.0}})
    cost = cost_of("llama3.2", Usage(prompt_tokens=M, completion_tokens=M), catalog=catalog)
    assert cost is not None and cost.amount == 3.0


def test_estimated_cost_is_marked() -> None:
    cost = estimate_cost("gpt-4o-mini", 1000, 500)
    assert cost is not None and cost.estimated
    assert cost.amount == pytest.approx((1000 * 0.15 + 500 * 0.60) / M)


def test_worst_case() -> None:
    assert worst_case_cost("gpt-4o", 1000, 500) == pytest.approx((1000 * 2.5 + 500 * 10) / M)
    assert worst_case_cost("gpt-4o", 1000, 500, n=3) == pytest.approx(
        (1000 * 2.5 + 3 * 500 * 10) / M)
    # No max_tokens: the model's maximum output, or what is left of the window.
    assert worst_case_cost("gpt-4o", 1000, None) == pytest.approx(
        (1000 * 2.5 + 16_384 * 10) / M)
    assert worst_case_cost("gpt-4o", 120_000, None) == pytest.approx(
        (120_000 * 2.5 + 8_000 * 10) / M)
    assert worst_case_cost("gpt-4o", 1000, 500, batch=True) == pytest.approx(
        (1000 * 1.25 + 500 * 5) / M)


@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7),
       st.integers(0, 10**7), st.booleans())
def test_cost_is_never_negative_and_never_above_full_price(
    prompt: int, completion: int, cached: int, reasoning: int, batch: bool
) -> None:
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
                  reasoning_tokens=reasoning)
    cost = cost_of("gpt-4.1", usage, batch=batch)
    assert cost is not None
    full = (prompt * 2.0 + completion * 8.0) / M
    assert 0 <= cost.amount <= full + 1e-9
    assert cost.amount == pytest.approx(cost.input + cost.cached_input + cost.output)


# ---------------------------------------------------------------- budgets


def test_daily_budget_refusal_message() -> None:
    with pytest.raises(BudgetExceededError) as info:
        check_budget(Budget(daily=1.00), 0.0123, spent_today=0.995, spent_this_month=3.0)
    assert str(info.value) == (
        "This request could cost up to $0.0123 but only $0.0050 is left of your daily "
        "budget ($1.00). Nothing was sent.\n"
        "Raise it with --budget or `daily_budget` in config.toml, or lower max_tokens."
    )


def test_the_limit_with_less_left_is_named() -> None:
    with pytest.raises(BudgetExceededError, match="monthly budget \\(\\$10.00\\)"):
        check_budget(Budget(daily=5, monthly=10), 0.5, spent_today=0.1, spent_this_month=9.8)
    with pytest.raises(BudgetExceededError, match="daily budget"):
        check_budget(Budget(daily=5, monthly=10), 0.5, spent_today=4.9, spent_this_month=4.9)


def test_nothing_left() -> None:
    with pytest.raises(BudgetExceededError) as info:
        check_budget(Budget(daily=1), 0.01, spent_today=1.2, spent_this_month=1.2)
    assert info.value.message == (
        "You have spent $1.20 of your daily budget ($1.00): nothing is left. Nothing was sent."
    )


def test_per_command_budget_replaces_daily_and_monthly() -> None:
    budget = Budget(daily=1, monthly=2, per_command=5)
    check_budget(budget, 3.0, spent_today=0.9, spent_this_month=1.9)  # allowed: --budget 5
    with pytest.raises(BudgetExceededError) as info:
        check_budget(budget, 3.0, 0, 0, spent_this_command=4.0)
    assert str(info.value) == (
        "This request could cost up to $3.00 but only $1.00 is left of the budget for this "
        "command ($5.00, --budget). Nothing was sent.\n"
        "Raise it with --budget, or lower max_tokens."
    )


def test_within_budget_and_unknown_price_pass() -> None:
    check_budget(Budget(daily=1), 0.5, spent_today=0.5, spent_this_month=0.5)  # exactly fits
    check_budget(Budget(), 100.0, 1000.0, 1000.0)
    check_budget(Budget(daily=0.01), None, 5.0, 5.0)  # no price known: allowed (see usage doc)


def test_budget_from_settings() -> None:
    budget = Budget.from_settings({"daily_budget": 2, "monthly_budget": 20.5}, per_command=None)
    assert budget == Budget(2.0, 20.5, None) and budget.is_set
    assert not Budget().is_set


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "$0.00"), (1, "$1.00"), (1234.5, "$1,234.50"), (0.0123, "$0.0123"),
     (0.005, "$0.0050"), (0.000015, "$0.000015"), (0.5, "$0.5000")],
)
def test_format_usd(amount: float, text: str) -> None:
    assert format_usd(amount) == text
