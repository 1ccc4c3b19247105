"""Budgets per gateway key, per UTC day and month: refused before anything is sent, with
the CLI's own estimate, from what the store says the key spent."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from talkline.serve.budgets import KeyBudgetExceededError, check_budget
from talkline.serve.keys import create_key, day_period, month_period
from talkline.store import ConversationStore
from talkline.testing import Reply

from .keys_app import UPSTREAM_KEY, build_app, serving

USAGE = {"prompt_tokens": 10, "completion_tokens": 1000, "total_tokens": 1010}


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    with ConversationStore(tmp_path / "talkline.db") as s:
        yield s


def ask(url: str, token: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
                      json={"model": "gpt-4o-mini", "max_tokens": 1000,
                            "messages": [{"role": "user", "content": "hi"}]})


def test_a_key_over_its_budget_is_refused_before_sending_and_the_other_key_works(
        store, server):
    _, alice = create_key(store, "alice", daily=0.001)
    _, bob = create_key(store, "bob")
    server.script(Reply("first", usage=USAGE), Reply("for bob", usage=USAGE))
    with serving(build_app(store, upstream=server.url)) as url:
        first = ask(url, alice)  # up to $0.0006: within $0.001
        assert first.status_code == 200, first.text
        assert len(server.chat_requests) == 1
        sent = server.chat_requests[0].headers["authorization"]
        assert sent == f"Bearer {UPSTREAM_KEY}" and alice not in sent
        assert store.spent_between(day_period(0)[0], client="alice") == pytest.approx(0.0006015)

        refused = ask(url, alice)  # $0.0006 spent, up to $0.0006 more: over $0.001
        assert refused.status_code == 429
        assert refused.headers["x-should-retry"] == "false"
        error = refused.json()["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "insufficient_quota", "insufficient_quota", None)
        assert error["message"].startswith(
            "This request could cost up to $0.0006 but only $0.0004 is left of the daily "
            "budget of the gateway key 'alice' ($0.0010). Nothing was sent. The daily budget "
            "resets at ")
        tomorrow = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)
        assert f"resets at {tomorrow:%Y-%m-%d} 00:00 UTC." in error["message"]
        assert "lower max_tokens" in error["message"]
        assert "talkline serve keys budget alice --daily USD" in error["message"]
        assert alice not in refused.text and "Traceback" not in refused.text
        assert len(server.chat_requests) == 1  # nothing was sent for the refusal

        other = ask(url, bob)
        assert other.status_code == 200 and other.json()["choices"][0]["message"][
            "content"] == "for bob"
        assert len(server.chat_requests) == 2
        assert [c.client for c in store.list_conversations()] == ["bob", "alice"]


def test_the_official_sdk_raises_its_rate_limit_error_and_does_not_retry(store, server):
    _, carol = create_key(store, "carol", monthly=0)
    app = build_app(store, upstream=server.url)
    with serving(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=carol)  # default retries on
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="gpt-4o-mini", max_tokens=10,
                                           messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "insufficient_quota"
    assert "monthly budget of the gateway key 'carol' ($0.00)" in caught.value.message
    assert server.chat_requests == []
    assert app.state.chat_calls == 1  # x-should-retry: false: the SDK asked once


def spend(store: ConversationStore, client: str, cost: float, at: float) -> None:
    """An exchange labelled `client` that cost `cost`, made at time `at`."""
    conv = store.create_conversation(model="gpt-4o-mini", client=client)
    store.append_message(conv.id, "user", "hi")
    reply = store.append_message(conv.id, "assistant", "hello", cost=cost)
    assert store.path is not None
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE messages SET created = ? WHERE conversation_id = ?", (at, conv.id))
    conn.close()
    assert reply.cost == cost


def test_the_daily_budget_resets_at_midnight_utc(store):
    key, _ = create_key(store, "alice", daily=1.0, monthly=5.0)
    spend(store, "alice", 0.9, utc(2026, 3, 31, 23, 30))
    spend(store, "bob", 50.0, utc(2026, 3, 31, 23, 31))  # another key's spending
    with pytest.raises(KeyBudgetExceededError) as caught:
        check_budget(store, key, 0.2, now=utc(2026, 3, 31, 23, 59, 59))
    assert caught.value.message == (
        "This request could cost up to $0.2000 but only $0.1000 is left of the daily budget of "
        "the gateway key 'alice' ($1.00). Nothing was sent. The daily budget resets at "
        "2026-04-01 00:00 UTC.")
    assert (caught.value.period, caught.value.resets_at) == ("daily", utc(2026, 4, 1))
    check_budget(store, key, 0.1, now=utc(2026, 3, 31, 23, 59, 59))  # what is left passes
    check_budget(store, key, 1.0, now=utc(2026, 4, 1, 0, 0, 1))  # a new day (and month)


def test_the_monthly_budget_resets_on_the_first_of_the_month_utc(store):
    key, _ = create_key(store, "alice", daily=1.0, monthly=1.5)
    spend(store, "alice", 0.5, utc(2026, 12, 10, 12))
    spend(store, "alice", 0.9, utc(2026, 12, 30, 12))
    with pytest.raises(KeyBudgetExceededError) as caught:
        check_budget(store, key, 0.2, now=utc(2026, 12, 31, 8))  # a new day: $1 left today
    assert "only $0.1000 is left of the monthly budget of the gateway key 'alice' ($1.50)" in (
        caught.value.message)
    assert caught.value.message.endswith("The monthly budget resets at 2027-01-01 00:00 UTC.")
    check_budget(store, key, 0.2, now=utc(2027, 1, 1, 0, 0, 1))
    spend(store, "alice", 1.5, utc(2027, 1, 1, 0, 1))
    with pytest.raises(KeyBudgetExceededError, match=r"\$1.50 of the daily budget .* is "
                       "spent: nothing is left"):
        check_budget(store, key, 0.0001, now=utc(2027, 1, 1, 0, 2))


def test_periods_are_utc_days_and_months():
    assert day_period(utc(2026, 2, 28, 23, 59)) == (utc(2026, 2, 28), utc(2026, 3, 1))
    assert month_period(utc(2026, 2, 28, 23, 59)) == (utc(2026, 2, 1), utc(2026, 3, 1))
    assert month_period(utc(2026, 12, 31, 23)) == (utc(2026, 12, 1), utc(2027, 1, 1))


def test_unknown_prices_pass_except_under_a_budget_of_zero(store):
    free, _ = create_key(store, "free")
    some, _ = create_key(store, "some", daily=1.0)
    none, _ = create_key(store, "none", daily=0.0)
    check_budget(store, free, None)
    check_budget(store, free, 1e9)
    check_budget(store, some, None)
    with pytest.raises(KeyBudgetExceededError) as caught:
        check_budget(store, none, None)
    assert caught.value.message.startswith(
        "The price of this model is unknown and the daily budget of the gateway key 'none' "
        "($0.00) allows nothing to be spent. Nothing was sent.")
    assert "ask the gateway's owner to raise the budget" in str(caught.value.hint)


def test_requests_running_at_once_cannot_both_spend_what_is_left(store):
    from talkline.serve.budgets import BudgetGuard

    key, _ = create_key(store, "alice", daily=1.0)
    other, _ = create_key(store, "bob", daily=1.0)
    guard = BudgetGuard(store, clock=lambda: utc(2026, 5, 5, 12))
    with guard.reserve(key, 0.6):
        assert guard.held(key) == pytest.approx(0.6)
        with pytest.raises(KeyBudgetExceededError) as caught:
            with guard.reserve(key, 0.6):
                pass  # pragma: no cover - refused before the block
        assert "only $0.4000 is left of the daily budget of the gateway key 'alice'" in (
            caught.value.message)
        with guard.reserve(other, 0.6):  # another key's money is its own
            pass
        with guard.reserve(key, 0.4):  # what is left still passes
            assert guard.held(key) == pytest.approx(1.0)
    assert guard.held(key) == 0.0  # released when the requests end (stored or failed)
    spend(store, "alice", 0.7, utc(2026, 5, 5, 11))
    with pytest.raises(KeyBudgetExceededError):
        with guard.reserve(key, 0.5):
            pass  # pragma: no cover
    assert guard.held(key) == 0.0  # a refusal holds nothing
