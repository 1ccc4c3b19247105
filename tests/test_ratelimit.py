"""talkline.ratelimit: Go durations, the token bucket and the shared RateLimiter."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from talkline.ratelimit import (
    DEFAULT_MAX_TOKENS_ESTIMATE,
    RateLimiter,
    Reservation,
    TokenBucket,
    estimate_tokens,
    limit_kind,
    parse_go_duration,
)
from talkline.wire.status_errors import error_from_response

KEY = ("https://api.openai.com/v1", "gpt-4o-mini")
OTHER = ("https://api.openai.com/v1", "gpt-4o")
TOL = 1e-6


class FakeClock:
    """A clock that only moves when told to; `sleep` moves it."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.t += seconds


def assert_within_limit(grants: Sequence[tuple[float, float]], capacity: float, rate: float):
    """In every window [t_i, t_j], the amount granted is <= capacity + rate * (t_j - t_i)."""
    times = [t for t, _ in grants]
    assert times == sorted(times)
    for i in range(len(grants)):
        total = 0.0
        for j in range(i, len(grants)):
            total += grants[j][1]
            allowed = capacity + rate * (grants[j][0] - grants[i][0])
            assert total <= allowed + TOL * max(1.0, allowed), (i, j, total, allowed)


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("12ms", 0.012),
        ("1h2m3.5s", 3723.5),
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("250μs", 250e-6),
        ("100ns", 100e-9),
        ("0s", 0.0),
        ("0", 0.0),
        ("20", 20.0),
        ("0.5", 0.5),
        (" 2s ", 2.0),
        ("1.5h", 5400.0),
        ("+3s", 3.0),
        ("7m", 420.0),
        ("1m30.25s", 90.25),
        (".5s", 0.5),
    ],
)
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", " ", "s", "abc", "-1s", "-5", "1x", "1.2.3s", "inf", "nan", "1e3", "1 s", "ms5", "--1s"],
)
def test_parse_go_duration_garbage(text: str) -> None:
    assert parse_go_duration(text) is None


@given(
    h=st.integers(0, 50),
    m=st.integers(0, 59),
    s=st.integers(0, 59),
    frac=st.integers(0, 999),
    ms=st.integers(0, 999),
    show=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_parse_go_duration_round_trip(
    h: int, m: int, s: int, frac: int, ms: int, show: list[bool]
) -> None:
    parts = []
    if h or show[0]:
        parts.append(f"{h}h")
    if m or show[1]:
        parts.append(f"{m}m")
    if s or frac or show[2]:
        parts.append(f"{s}.{frac:03d}s" if frac else f"{s}s")
    if ms or show[3] or not parts:
        parts.append(f"{ms}ms")
    expected = h * 3600 + m * 60 + s + frac / 1000 + ms / 1000
    assert parse_go_duration("".join(parts)) == pytest.approx(expected, abs=1e-9)


@given(st.text(max_size=12))
def test_parse_go_duration_never_negative(text: str) -> None:
    value = parse_go_duration(text)
    assert value is None or (math.isfinite(value) and value >= 0)


# --------------------------------------------------------------------------- estimates


def test_estimate_tokens() -> None:
    assert estimate_tokens(100, 2, 50) == 200
    assert estimate_tokens(100, 1, None) == 100 + DEFAULT_MAX_TOKENS_ESTIMATE
    assert estimate_tokens(100, 3, None, default_max=1000) == 3100
    assert estimate_tokens(100, 0, 10) == 110  # n < 1 counts as 1
    assert estimate_tokens(100, 1, 0) == 100
    assert RateLimiter.estimate_tokens(10, 1, 5) == 15
    assert RateLimiter().estimate_tokens(10, 2, 5) == 20


def _err429(message: str, type_: str | None = None):
    err = {"message": message, "code": "rate_limit_exceeded", "type": type_}
    return error_from_response(429, json.dumps({"error": err}))


def test_limit_kind() -> None:
    assert limit_kind(_err429("slow down", "tokens")) == "tokens"
    assert limit_kind(_err429("slow down", "requests")) == "requests"
    assert limit_kind(_err429("Rate limit reached on tokens per min (TPM): Limit 1")) == "tokens"
    assert limit_kind(_err429("Rate limit reached on requests per min (RPM)")) == "requests"
    assert limit_kind(_err429("Too many requests")) is None
    assert limit_kind(ValueError("x")) is None


# --------------------------------------------------------------------------- bucket


def test_bucket_per_minute() -> None:
    b = TokenBucket.per_minute(600)
    assert (b.capacity, b.rate, b.level) == (10.0, 10.0, 10.0)
    b2 = TokenBucket.per_minute(600, burst_seconds=2.5)
    assert (b2.capacity, b2.rate, b2.burst_seconds) == (25.0, 10.0, 2.5)
    assert b2.limit_per_minute == 600


def test_bucket_take_wait_and_refill() -> None:
    b = TokenBucket.per_minute(600)  # 10 per second, holds 10
    assert b.take(4, 0.0) == 0.0
    assert b.take(6, 0.0) == 0.0
    assert b.level == 0.0
    assert b.wait_time(5, 0.0) == pytest.approx(0.5)
    assert b.take(5, 0.0) == pytest.approx(0.5)  # nothing taken
    assert b.level == 0.0
    assert b.wait_time(5, 0.5) == 0.0
    assert b.take(5, 0.5) == 0.0
    b.refill(100.0)
    assert b.level == 10.0  # never above capacity


def test_bucket_first_call_sets_the_origin() -> None:
    b = TokenBucket(10, 1, level=0)
    assert b.wait_time(1, 5000.0) == pytest.approx(1.0)
    b.refill(5001.0)
    assert b.level == pytest.approx(1.0)


def test_bucket_ignores_clock_going_backwards() -> None:
    b = TokenBucket(10, 1, level=5)
    b.refill(10.0)
    b.refill(5.0)
    assert b.level == 5
    b.refill(11.0)
    assert b.level == 6


def test_bucket_oversized_charge_needs_a_full_bucket_then_leaves_debt() -> None:
    b = TokenBucket.per_minute(30)  # 0.5 requests per second, capacity 0.5 < 1 request
    assert b.take(1, 0.0) == 0.0  # full: granted
    assert b.level == -0.5
    assert b.wait_time(1, 0.0) == pytest.approx(2.0)  # back to full (0.5) after 2 s
    assert b.take(1, 2.0) == 0.0
    big = TokenBucket(100, 10)
    assert big.take(250, 0.0) == 0.0
    assert big.level == -150
    assert big.wait_time(1, 0.0) == pytest.approx(15.1)


def test_bucket_force_take_and_give_back() -> None:
    b = TokenBucket(10, 1)
    b.force_take(25, 0.0)
    assert b.level == -15
    assert b.wait_time(1, 0.0) == pytest.approx(16.0)
    b.give_back(5, 0.0)
    assert b.level == -10
    b.give_back(1000, 0.0)
    assert b.level == 10  # never above capacity


def test_bucket_set_limit_keeps_burst_and_caps_level() -> None:
    b = TokenBucket.per_minute(600, burst_seconds=2)  # capacity 20, rate 10
    b.refill(0.0)
    b.set_limit(60, 0.0)  # rate 1, capacity 2
    assert (b.capacity, b.rate, b.level) == (2.0, 1.0, 2.0)
    b.take(2, 0.0)
    b.set_limit(6000, 0.0)
    assert (b.capacity, b.rate, b.level) == (200.0, 100.0, 0.0)
    assert b.wait_time(100, 0.0) == pytest.approx(1.0)


def test_bucket_pause_until() -> None:
    b = TokenBucket(10, 1)
    b.refill(0.0)
    b.pause_until(5.0)
    assert b.level == 0  # a 429 means the server's bucket is empty
    assert b.wait_time(0, 1.0) == pytest.approx(4.0)
    assert b.take(1, 4.9) > 0
    assert b.wait_time(1, 5.0) == pytest.approx(1.0)  # refills only from 5.0
    assert b.take(1, 6.0) == 0.0
    b.pause_until(3.0)  # an earlier pause never shortens a later one... nor un-pauses
    assert b.paused_until == 5.0


def test_bucket_rejects_bad_values() -> None:
    for capacity, rate in ((0, 1), (1, 0), (-1, 1), (math.nan, 1), (1, math.inf)):
        with pytest.raises(ValueError):
            TokenBucket(capacity, rate)
    with pytest.raises(ValueError):
        TokenBucket.per_minute(60, burst_seconds=0)
    with pytest.raises(ValueError):
        TokenBucket(1, 1).set_limit(0, 0.0)


ops_strategy = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.001, 0.05, 0.1, 0.37, 1.0, 3.0]),
        st.floats(min_value=0, max_value=10),
    ),
    min_size=1,
    max_size=40,
)


@given(ops=ops_strategy)
def test_bucket_take_loop_never_exceeds_limit(ops: list[tuple[float, float]]) -> None:
    b = TokenBucket.per_minute(600)  # capacity 10, rate 10/s
    now = 0.0
    grants: list[tuple[float, float]] = []
    for advance, size in ops:
        now += advance
        while (wait := b.take(size, now)) > 0:
            now += wait
        grants.append((now, size))
        assert b.level <= b.capacity
        assert b.level >= -TOL
    assert_within_limit(grants, b.capacity, b.rate)


@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["take", "force", "give", "refill", "limit"]),
            st.floats(min_value=0, max_value=50),
            st.floats(min_value=0, max_value=2),
        ),
        max_size=40,
    )
)
def test_bucket_level_never_exceeds_capacity(ops: list[tuple[str, float, float]]) -> None:
    b = TokenBucket.per_minute(600)
    now = 0.0
    for op, amount, advance in ops:
        now += advance
        if op == "take":
            b.take(amount, now)
        elif op == "force":
            b.force_take(amount, now)
        elif op == "give":
            b.give_back(amount, now)
        elif op == "refill":
            b.refill(now)
        else:
            b.set_limit(60 + amount * 100, now)
        assert b.level <= b.capacity + TOL


# --------------------------------------------------------------------------- limiter
# The limiter shows no levels (nothing outside the tests needs them): these read its state,
# refilled to its clock, white box.


def bucket(lim: RateLimiter, key: tuple[str, str], kind: str) -> TokenBucket | None:
    state = lim._state(key)
    found = state.requests if kind == "requests" else state.tokens
    if found is not None:
        found.refill(lim._clock())
    return found


def level(lim: RateLimiter, key: tuple[str, str], kind: str) -> float:
    found = bucket(lim, key, kind)
    assert found is not None, f"no {kind} limit known"
    return found.level


def limit(lim: RateLimiter, key: tuple[str, str], kind: str) -> float | None:
    found = bucket(lim, key, kind)
    return None if found is None else found.limit_per_minute


def paused_for(lim: RateLimiter, key: tuple[str, str], kind: str) -> float:
    found = bucket(lim, key, kind)
    until = found.paused_until if found is not None else lim._state(key).paused_until.get(
        kind, -math.inf)
    return max(0.0, until - lim._clock())


def view(lim: RateLimiter, key: tuple[str, str]) -> list[tuple[float | None, ...]]:
    """Limit, level and pause of both kinds: to compare before and after."""
    out: list[tuple[float | None, ...]] = []
    for kind in ("requests", "tokens"):
        found = bucket(lim, key, kind)
        out.append((limit(lim, key, kind), found.level if found else None,
                    paused_for(lim, key, kind)))
    return out




def test_no_limits_never_throttles() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock)
    for _ in range(1000):
        assert lim.reserve(KEY, 10**6).granted
    assert lim.acquire(KEY, 10**9, sleep=clock.sleep).granted
    assert clock.sleeps == []
    assert bucket(lim, KEY, "requests") is None and bucket(lim, KEY, "tokens") is None


def test_rpm_throttles_requests() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=600, clock=clock)  # 10/s, holds 10
    for _ in range(10):
        assert lim.reserve(KEY, 0) == Reservation(KEY, 0, 0.0)
    res = lim.reserve(KEY, 0)
    assert not res.granted and res.delay == pytest.approx(0.1)
    assert level(lim, KEY, "requests") == pytest.approx(0.0)  # nothing reserved
    got = lim.acquire(KEY, 0, sleep=clock.sleep)
    assert got.granted and clock.sleeps == [pytest.approx(0.1)]


def test_tpm_throttles_tokens() -> None:
    clock = FakeClock()
    lim = RateLimiter(tpm=60_000, clock=clock)  # 1000 tokens/s, holds 1000
    assert lim.reserve(KEY, 800).granted
    res = lim.reserve(KEY, 400)
    assert res.delay == pytest.approx(0.2) and res.tokens == 400
    assert lim.acquire(KEY, 400, sleep=clock.sleep).granted
    assert sum(clock.sleeps) == pytest.approx(0.2)


def test_both_buckets_must_grant() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=60, tpm=600_000, clock=clock)  # 1 request/s; tokens plenty
    assert lim.reserve(KEY, 10).granted
    res = lim.reserve(KEY, 10)
    assert res.delay == pytest.approx(1.0)
    # The token bucket was not charged for the refused request.
    assert level(lim, KEY, "tokens") == pytest.approx(10_000 - 10)


def test_settings_apply_to_every_key_separately() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=60, clock=clock)
    assert lim.reserve(KEY, 0).granted
    assert not lim.reserve(KEY, 0).granted
    assert lim.reserve(OTHER, 0).granted


def test_oversized_request_passes_when_full() -> None:
    clock = FakeClock()
    lim = RateLimiter(tpm=6000, clock=clock)  # 100 tokens/s, holds 100
    assert lim.reserve(KEY, 500).granted
    res = lim.reserve(KEY, 1)
    assert res.delay == pytest.approx(4.01)


def test_burst_seconds() -> None:
    lim = RateLimiter(rpm=600, clock=FakeClock(), burst_seconds=3)
    assert sum(lim.reserve(KEY, 0).granted for _ in range(40)) == 30


def test_limiter_rejects_bad_settings() -> None:
    for kwargs in ({"rpm": 0}, {"tpm": -1}, {"rpm": math.nan}, {"burst_seconds": 0}):
        with pytest.raises(ValueError):
            RateLimiter(**kwargs)  # type: ignore[arg-type]


HEADERS = {
    "x-ratelimit-limit-requests": "600",
    "x-ratelimit-limit-tokens": "60000",
    "x-ratelimit-remaining-requests": "599",
    "x-ratelimit-remaining-tokens": "59000",
    "x-ratelimit-reset-requests": "100ms",
    "x-ratelimit-reset-tokens": "1s",
}


def test_headers_teach_limits_for_that_key_only() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=60, clock=clock)
    lim.update_from_headers(KEY, HEADERS)
    requests, tokens = bucket(lim, KEY, "requests"), bucket(lim, KEY, "tokens")
    assert requests is not None and tokens is not None
    assert requests.limit_per_minute == 600 and requests.capacity == 10
    assert tokens.limit_per_minute == 60000 and tokens.capacity == 1000
    other = bucket(lim, OTHER, "requests")
    assert other is not None and other.limit_per_minute == 60  # from settings
    assert bucket(lim, OTHER, "tokens") is None


def test_headers_override_settings_in_both_directions() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=6000, clock=clock)
    lim.update_from_headers(KEY, {"x-ratelimit-limit-requests": "60"})
    assert limit(lim, KEY, "requests") == 60
    assert lim.reserve(KEY, 0).granted
    assert lim.reserve(KEY, 0).delay == pytest.approx(1.0)


def test_header_names_case_insensitive() -> None:
    lim = RateLimiter(clock=FakeClock())
    lim.update_from_headers(KEY, {"X-RateLimit-Limit-Requests": "120"})
    assert limit(lim, KEY, "requests") == 120


@pytest.mark.parametrize("value", ["-1", "0", "", "unlimited", "nan", "inf", "-0"])
def test_headers_ignore_gateway_placeholders(value: str) -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=600, clock=clock)
    before = view(lim, KEY)
    lim.update_from_headers(
        KEY,
        {
            "x-ratelimit-limit-requests": value,
            "x-ratelimit-remaining-requests": value,
            "x-ratelimit-limit-tokens": value,
            "x-ratelimit-remaining-tokens": value,
            "x-ratelimit-reset-requests": value,
        },
    )
    assert view(lim, KEY) == before


def test_remaining_lowers_the_level_proportionally() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock)
    lim.update_from_headers(
        KEY,
        {
            "x-ratelimit-limit-requests": "600",
            "x-ratelimit-remaining-requests": "300",
            "x-ratelimit-limit-tokens": "60000",
            "x-ratelimit-remaining-tokens": "6000",
        },
    )
    assert level(lim, KEY, "requests") == pytest.approx(5.0)  # half of capacity 10
    assert level(lim, KEY, "tokens") == pytest.approx(100.0)  # a tenth of 1000


def test_remaining_never_raises_the_level() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=600, clock=clock)
    for _ in range(8):
        assert lim.reserve(KEY, 0).granted
    lim.update_from_headers(
        KEY, {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "600"}
    )
    assert level(lim, KEY, "requests") == pytest.approx(2.0)


def test_remaining_without_limit_uses_the_known_limit() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=600, clock=clock)
    lim.update_from_headers(KEY, {"x-ratelimit-remaining-requests": "60"})
    assert level(lim, KEY, "requests") == pytest.approx(1.0)
    lim.update_from_headers(KEY, {"x-ratelimit-remaining-requests": "0"})  # no limit: ignored
    assert level(lim, KEY, "requests") == pytest.approx(1.0)


def test_remaining_zero_with_reset_pauses() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock)
    lim.update_from_headers(
        KEY,
        {
            "x-ratelimit-limit-tokens": "60000",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "2s",
        },
    )
    assert level(lim, KEY, "tokens") == 0 and paused_for(lim, KEY, "tokens") == pytest.approx(2.0)
    assert lim.reserve(KEY, 100).delay == pytest.approx(2.1)
    assert bucket(lim, KEY, "requests") is None


def test_pause_only_the_named_bucket_of_that_key() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=600, tpm=60_000, clock=clock)
    lim.pause(KEY, "tokens", 5.0)
    assert lim.reserve(KEY, 10).delay == pytest.approx(5.0 + 10 / 1000)
    assert lim.reserve(KEY, 0).delay == pytest.approx(5.0)  # a 0 charge still waits the pause
    assert lim.reserve(OTHER, 10).granted
    assert paused_for(lim, KEY, "requests") == 0 and level(lim, KEY, "requests") == 10
    assert paused_for(lim, KEY, "tokens") == pytest.approx(5.0)


def test_pause_both_and_unknown_limits() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock)  # nothing known: a 429 must still hold requests back
    lim.pause(KEY, None, 3.0)
    assert lim.reserve(KEY, 0).delay == pytest.approx(3.0)
    assert paused_for(lim, KEY, "requests") == pytest.approx(3.0)
    assert lim.reserve(OTHER, 0).granted
    clock.t += 3.0
    assert lim.reserve(KEY, 0).granted


def test_pause_survives_learning_the_limit() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock)
    lim.pause(KEY, "requests", 3.0)
    lim.update_from_headers(KEY, {"x-ratelimit-limit-requests": "600"})
    assert lim.reserve(KEY, 0).delay == pytest.approx(3.1)


def test_pause_ignores_nonsense() -> None:
    lim = RateLimiter(rpm=60, clock=FakeClock())
    lim.pause(KEY, "requests", -1)
    lim.pause(KEY, "requests", math.nan)
    assert lim.reserve(KEY, 0).granted
    with pytest.raises(ValueError):
        lim.pause(KEY, "bananas", 1.0)


def test_reconcile() -> None:
    clock = FakeClock()
    lim = RateLimiter(tpm=60_000, clock=clock)  # holds 1000
    res = lim.reserve(KEY, 800)
    lim.reconcile(res, 300)  # used less: give back 500
    assert level(lim, KEY, "tokens") == pytest.approx(700)
    res2 = lim.reserve(KEY, 100)
    lim.reconcile(res2, 1500)  # used more: charge 1400 extra
    assert level(lim, KEY, "tokens") == pytest.approx(-800)
    lim.reconcile(res2, None)  # unknown: estimate stands
    assert level(lim, KEY, "tokens") == pytest.approx(-800)
    lim.reconcile(Reservation(KEY, 100, delay=1.0), 0)  # never granted: ignored
    assert level(lim, KEY, "tokens") == pytest.approx(-800)


def test_reconcile_never_above_capacity() -> None:
    lim = RateLimiter(tpm=60_000, clock=FakeClock())
    res = lim.reserve(KEY, 100)
    lim.reconcile(res, 0)
    lim.reconcile(res, 0)  # even when called twice
    assert level(lim, KEY, "tokens") == 1000


def test_fifo_big_waiter_is_not_starved() -> None:
    clock = FakeClock()
    lim = RateLimiter(tpm=60_000, clock=clock)  # 1000/s, holds 1000
    assert lim.reserve(KEY, 900).granted  # 100 left
    small_results: list[Reservation] = []

    def sleep(seconds: float) -> None:
        # While the big request waits, small ones arrive and must not jump the queue
        # (if they did, the big one would wait forever: bounded here).
        assert len(small_results) < 50, "the big request is starved"
        small_results.append(lim.reserve(KEY, 50))
        clock.sleep(seconds)

    assert lim.acquire(KEY, 1000, sleep=sleep).granted
    assert small_results and not any(r.granted for r in small_results)
    assert not lim._state(KEY).waiting  # nobody left queued


def test_later_small_request_may_pass_when_room_for_both() -> None:
    clock = FakeClock()
    lim = RateLimiter(tpm=60_000, clock=clock)
    assert lim.reserve(KEY, 700).granted  # 300 left
    seen: list[Reservation] = []

    def sleep(seconds: float) -> None:
        if not seen:
            clock.t += 0.5  # 800 now: enough for the waiter's 600 and a 100 behind it
            seen.append(lim.reserve(KEY, 100))
        clock.sleep(seconds)

    assert lim.acquire(KEY, 600, sleep=sleep).granted
    assert seen[0].granted


def test_abandoned_waiter_leaves_the_queue() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=60, clock=clock)
    assert lim.reserve(KEY, 0).granted

    class Cancelled(BaseException):
        pass

    def sleep(seconds: float) -> None:
        assert len(lim._state(KEY).waiting) == 1
        raise Cancelled

    with pytest.raises(Cancelled):
        lim.acquire(KEY, 0, sleep=sleep)
    assert not lim._state(KEY).waiting  # nobody left queued
    clock.t += 1
    assert lim.reserve(KEY, 0).granted


def test_aacquire_uses_asleep() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=60, clock=clock)
    sleeps: list[float] = []

    async def asleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.t += seconds
        await asyncio.sleep(0)

    async def main() -> list[Reservation]:
        return [await lim.aacquire(KEY, 5, asleep=asleep) for _ in range(3)]

    results = asyncio.run(main())
    assert all(r.granted and r.tokens == 5 for r in results)
    assert sleeps == [pytest.approx(1.0), pytest.approx(1.0)]


def test_aacquire_tasks_share_the_limit() -> None:
    clock = FakeClock(0.0)
    lim = RateLimiter(rpm=600, tpm=6000, clock=clock)  # 10 req/s (10), 100 tok/s (100)
    grants: list[tuple[float, int]] = []

    async def asleep(seconds: float) -> None:
        # Fake but consistent: time only moves forward, to when this sleeper wakes.
        wake = clock.t + seconds
        await asyncio.sleep(0)
        clock.t = max(clock.t, wake)

    async def worker(size: int) -> None:
        for _ in range(5):
            await lim.aacquire(KEY, size, asleep=asleep)
            grants.append((clock.t, size))

    async def main() -> None:
        await asyncio.gather(*(worker(size) for size in (1, 5, 10, 20, 40, 3, 7, 9)))

    asyncio.run(main())
    assert len(grants) == 40
    grants.sort()
    assert_within_limit([(t, 1) for t, _ in grants], 10, 10)
    assert_within_limit(grants, 100, 100)


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, rpm=st.sampled_from([None, 120, 600, 3000]))
def test_acquire_never_exceeds_limit_in_any_window(
    ops: list[tuple[float, float]], rpm: int | None
) -> None:
    clock = FakeClock(0.0)
    lim = RateLimiter(rpm=rpm, tpm=600, clock=clock)  # tokens: 10/s, holds 10
    grants: list[tuple[float, float]] = []
    for advance, size in ops:
        clock.t += advance
        tokens = int(size)
        res = lim.acquire(KEY, tokens, sleep=clock.sleep)
        assert res.granted and res.tokens == tokens
        grants.append((clock.t, tokens))
        tokens_bucket = bucket(lim, KEY, "tokens")
        assert tokens_bucket is not None
        assert -TOL <= tokens_bucket.level <= tokens_bucket.capacity
    assert_within_limit(grants, 10, 10)
    if rpm is not None:
        assert_within_limit([(t, 1) for t, _ in grants], rpm / 60, rpm / 60)


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=2),
            st.integers(0, 3000),
            st.one_of(st.none(), st.integers(0, 5000)),
        ),
        max_size=30,
    )
)
def test_reconcile_never_lets_level_exceed_capacity(
    ops: list[tuple[float, int, int | None]],
) -> None:
    clock = FakeClock(0.0)
    lim = RateLimiter(tpm=60_000, clock=clock)  # holds 1000
    for advance, estimate, actual in ops:
        clock.t += advance
        res = lim.acquire(KEY, estimate, sleep=clock.sleep)
        lim.reconcile(res, actual)
        lim.update_from_headers(KEY, {"x-ratelimit-remaining-tokens": str(actual or 0)})
        tokens_bucket = bucket(lim, KEY, "tokens")
        assert tokens_bucket is not None and tokens_bucket.level <= tokens_bucket.capacity


def test_threads_share_the_limit() -> None:
    # Real clock and sleep, bounded: 20 requests/s holding 20; 8 threads x 5 = 40 requests,
    # so about one second. The limiter's own clock reading for each grant is recorded.
    local = threading.local()

    def clock() -> float:
        local.last = time.monotonic()
        return float(local.last)

    lim = RateLimiter(rpm=1200, clock=clock)
    grants: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                assert lim.acquire(KEY, 0).granted
                with lock:
                    grants.append(local.last)
        except BaseException as exc:
            errors.append(exc)

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    elapsed = time.monotonic() - start
    assert not errors
    assert len(grants) == 40
    grants.sort()
    assert_within_limit([(t, 1) for t in grants], 20, 20)
    assert grants[-1] - grants[0] >= (40 - 20) / 20 - 0.01  # it did throttle
    assert elapsed < 3.0
    assert not lim._state(KEY).waiting  # nobody left queued


def test_settings_buckets_start_full() -> None:
    lim = RateLimiter(rpm=600, tpm=60_000, clock=FakeClock())
    assert (limit(lim, KEY, "requests"), level(lim, KEY, "requests")) == (600, 10)
    assert (limit(lim, KEY, "tokens"), level(lim, KEY, "tokens")) == (60_000, 1000)
    assert paused_for(lim, KEY, "requests") == paused_for(lim, KEY, "tokens") == 0.0
    assert not lim._state(KEY).waiting
