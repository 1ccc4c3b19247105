"""talkline.retry: which errors are retried, how long to wait, and the runner."""

from __future__ import annotations

import json
import math
import time
from email.utils import formatdate
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from talkline.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConfigError,
    ConflictError,
    ContextLengthExceededError,
    NotFoundError,
    ParamError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StreamInterrupted,
    TalklineError,
)
from talkline.retry import (
    Decision,
    RetryEvent,
    RetryPolicy,
    RetryRunner,
    is_retryable,
    server_delay,
)
from talkline.wire.status_errors import error_from_response

NOW = 1_700_000_000.0  # a fixed "epoch now" for HTTP dates


def http(status: int, message: str = "boom", headers: dict[str, str] | None = None, **err: Any):
    body = json.dumps({"error": {"message": message, **err}})
    return error_from_response(status, body, headers=headers)


def rate_limited(headers: dict[str, str] | None = None, message: str = "Rate limit reached"):
    return http(429, message, headers, code="rate_limit_exceeded", type="tokens")


def local_clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


# --------------------------------------------------------------------------- classification

RETRYABLE = [
    pytest.param(APIConnectionError("connection refused"), id="connection"),
    pytest.param(APITimeoutError("read timeout"), id="timeout"),
    pytest.param(http(408), id="408"),
    pytest.param(http(409), id="409"),
    pytest.param(rate_limited(), id="429-rate-limit"),
    pytest.param(http(500), id="500"),
    pytest.param(http(503), id="503"),
    pytest.param(
        error_from_response(502, "<html><title>502 Bad Gateway</title></html>"), id="502-html"
    ),
    pytest.param(error_from_response(504, "upstream timed out"), id="504-plain"),
    pytest.param(StreamInterrupted("stream ended early", partial="Hel"), id="stream-broken"),
    pytest.param(
        StreamInterrupted("dropped", cause=APITimeoutError("idle")), id="stream-timeout-cause"
    ),
    pytest.param(StreamInterrupted("dropped", cause=ValueError("x")), id="stream-other-cause"),
    pytest.param(StreamInterrupted("error event", cause=rate_limited()), id="stream-429-cause"),
    pytest.param(StreamInterrupted("error event", cause=http(500)), id="stream-500-cause"),
    pytest.param(APIError("bare", status=503), id="bare-503"),
    pytest.param(APIError("bare", status=429), id="bare-429"),
]

NOT_RETRYABLE = [
    pytest.param(http(400, code="invalid_request_error"), id="400"),
    pytest.param(http(422), id="422"),
    pytest.param(
        http(
            400,
            "This model's maximum context length is 128000 tokens.",
            code="context_length_exceeded",
        ),
        id="context-length",
    ),
    pytest.param(http(401, code="invalid_api_key"), id="401"),
    pytest.param(http(403), id="403"),
    pytest.param(http(404, "The model `x` does not exist", code="model_not_found"), id="404"),
    pytest.param(
        http(429, "You exceeded your current quota", code="insufficient_quota"), id="429-quota"
    ),
    pytest.param(http(429, "billing", code="billing_hard_limit_reached"), id="429-billing"),
    pytest.param(http(429, "spend", code="monthly_spend_limit_exceeded"), id="429-spend-limit"),
    pytest.param(
        http(
            429,
            "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 50000.",
            type="tokens",
            code="rate_limit_exceeded",
        ),
        id="429-request-too-large",
    ),
    pytest.param(ParamError("temperature must be between 0 and 2"), id="param"),
    pytest.param(ConfigError("bad config"), id="config"),
    pytest.param(BudgetExceededError("over budget"), id="budget"),
    pytest.param(TalklineError("generic"), id="talkline-base"),
    pytest.param(ValueError("not ours"), id="ValueError"),
    pytest.param(KeyError("k"), id="KeyError"),
    pytest.param(StreamInterrupted("error event", cause=http(400)), id="stream-400-cause"),
    pytest.param(
        StreamInterrupted("error event", cause=http(429, "quota", code="insufficient_quota")),
        id="stream-quota-cause",
    ),
    pytest.param(APIError("bare", status=429, code="insufficient_quota"), id="bare-429-quota"),
    pytest.param(APIError("bare", status=400), id="bare-400"),
    pytest.param(APIError("bare"), id="bare-no-status"),
]


def test_mapped_classes_are_what_we_think() -> None:
    assert isinstance(http(408), RequestTimeoutError)
    assert isinstance(http(409), ConflictError)
    assert isinstance(rate_limited(), RateLimitError)
    assert isinstance(http(500), ServerError)
    assert isinstance(http(422), BadRequestError)
    assert isinstance(http(401), AuthenticationError)
    assert isinstance(http(403), PermissionDeniedError)
    assert isinstance(http(404), NotFoundError)
    assert isinstance(
        http(400, "maximum context length is 10", code="context_length_exceeded"),
        ContextLengthExceededError,
    )
    assert isinstance(http(429, "q", code="insufficient_quota"), QuotaExceededError)


@pytest.mark.parametrize("error", RETRYABLE)
def test_retryable(error: BaseException) -> None:
    assert is_retryable(error)[0]
    d = RetryPolicy().decide(error, 0, rand=1.0, now=NOW)
    assert d.retry, d.reason
    assert d.delay == 0.5


@pytest.mark.parametrize("error", NOT_RETRYABLE)
def test_not_retryable(error: BaseException) -> None:
    retryable, reason = is_retryable(error)
    assert not retryable
    d = RetryPolicy().decide(error, 0, rand=1.0, now=NOW)
    assert d == Decision(False, 0.0, reason)


def test_quota_reason_says_waiting_will_not_help() -> None:
    d = RetryPolicy().decide(http(429, "q", code="insufficient_quota"), 0, rand=0.0)
    assert "waiting will not help" in d.reason


def test_x_should_retry_true_overrides_status() -> None:
    err = http(400, headers={"x-should-retry": "true"})
    d = RetryPolicy().decide(err, 0, rand=1.0)
    assert d.retry and "x-should-retry: true" in d.reason


def test_x_should_retry_false_overrides_status() -> None:
    for err in (
        http(500, headers={"x-should-retry": "false"}),
        rate_limited({"X-Should-Retry": " False "}),
    ):
        d = RetryPolicy().decide(err, 0, rand=1.0)
        assert not d.retry and "x-should-retry: false" in d.reason


def test_x_should_retry_true_never_retries_quota() -> None:
    err = http(429, "quota", {"x-should-retry": "true"}, code="insufficient_quota")
    assert not RetryPolicy().decide(err, 0, rand=1.0).retry


def test_x_should_retry_other_values_ignored() -> None:
    assert RetryPolicy().decide(http(500, headers={"x-should-retry": "maybe"}), 0, rand=1).retry
    assert not RetryPolicy().decide(http(400, headers={"x-should-retry": "1"}), 0, rand=1).retry


def test_x_should_retry_on_stream_cause() -> None:
    err = StreamInterrupted("event", cause=http(400, headers={"x-should-retry": "true"}))
    assert RetryPolicy().decide(err, 0, rand=1.0).retry


def test_x_should_retry_still_counts_retries() -> None:
    err = http(400, headers={"x-should-retry": "true"})
    assert RetryPolicy().decide(err, 2, rand=1.0).reason == "no retries left"


# --------------------------------------------------------------------------- server_delay


def test_retry_after_ms_beats_retry_after() -> None:
    assert server_delay({"retry-after-ms": "1500", "retry-after": "7"}) == 1.5


def test_retry_after_seconds() -> None:
    assert server_delay({"retry-after": "7"}) == 7.0
    assert server_delay({"retry-after": "2.5"}) == 2.5


def test_retry_after_http_date() -> None:
    header = formatdate(NOW + 30, usegmt=True)
    assert server_delay({"retry-after": header}, now=NOW) == pytest.approx(30.0)


def test_retry_after_http_date_in_the_past_is_unusable() -> None:
    header = formatdate(NOW - 30, usegmt=True)
    assert server_delay({"retry-after": header}, now=NOW) is None


def test_header_beats_message_hint() -> None:
    msg = "Please try again in 1.146s."
    assert server_delay({"retry-after": "3"}, msg) == 3.0
    assert server_delay({}, msg) == 1.146


def test_header_names_are_case_insensitive() -> None:
    assert server_delay({"Retry-After-Ms": "20"}) == pytest.approx(0.02)
    assert server_delay({"RETRY-AFTER": "4"}) == 4.0


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000, "
            "Requested 2000. Please try again in 1.146s. Visit https://platform.openai.com",
            1.146,
        ),
        ("Please try again in 20ms.", 0.02),
        ("Please try again in 6m0s.", 360.0),
        ("Please try again in 1h2m3.5s", 3723.5),
        ("Please try again in 2.5 seconds.", 2.5),
        ("please retry after 3 seconds", 3.0),
        ("Try again in 1 minute", 60.0),
        ("try again in 500 milliseconds", 0.5),
        ("Slow down.", None),
        ("in 5s", None),  # no "try again"/"retry" lead: too vague to trust
    ],
)
def test_message_hints(message: str, expected: float | None) -> None:
    got = server_delay({}, message)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"retry-after": "soon"},
        {"retry-after": "-5"},
        {"retry-after": "nan"},
        {"retry-after": "inf"},
        {"retry-after-ms": "-1"},
        {"retry-after-ms": "NaN"},
        {"retry-after": ""},
        {"retry-after": "Mon, 99 Foo 2024 99:99:99 GMT"},
    ],
)
def test_unusable_values_give_none(headers: dict[str, str]) -> None:
    assert server_delay(headers, now=NOW) is None


def test_unusable_ms_falls_through_to_retry_after() -> None:
    assert server_delay({"retry-after-ms": "-1", "retry-after": "2"}) == 2.0
    assert server_delay({"retry-after-ms": "x", "retry-after": "x"}, "try again in 4s") == 4.0


def test_zero_delay_is_returned_but_decide_backs_off() -> None:
    assert server_delay({"retry-after": "0"}) == 0.0
    d = RetryPolicy().decide(rate_limited({"retry-after": "0"}), 1, rand=1.0)
    assert d.retry and d.delay == 1.0


_delay_values = st.one_of(
    st.text(max_size=20),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
)


@given(
    headers=st.dictionaries(
        st.sampled_from(["retry-after", "Retry-After", "retry-after-ms", "RETRY-AFTER-MS", "x"]),
        _delay_values,
        max_size=4,
    ),
    message=st.one_of(
        st.text(max_size=40),
        st.builds(lambda v: f"Please try again in {v}.", _delay_values),
    ),
    now=st.floats(min_value=0, max_value=4e9),
)
def test_server_delay_never_negative_or_nan(
    headers: dict[str, str], message: str, now: float
) -> None:
    value = server_delay(headers, message, now=now)
    assert value is None or (math.isfinite(value) and value >= 0)


# --------------------------------------------------------------------------- delays


def test_backoff_sequence_with_rand_one() -> None:
    p = RetryPolicy()
    assert [p.backoff(n, 1.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_backoff_with_rand_zero_is_low_jitter() -> None:
    p = RetryPolicy()
    assert [p.backoff(n, 0.0) for n in range(6)] == [0.375, 0.75, 1.5, 3.0, 6.0, 6.0]


def test_backoff_huge_retry_number_does_not_overflow() -> None:
    assert RetryPolicy().backoff(10_000, 1.0) == 8.0


@given(
    n=st.integers(min_value=0, max_value=200),
    rand=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_within_jitter_bounds(n: int, rand: float) -> None:
    p = RetryPolicy()
    base = min(0.5 * 2.0 ** min(n, 64), 8.0)
    assert 0.75 * base <= p.backoff(n, rand) <= base


def test_decide_uses_backoff_by_retries_done() -> None:
    p = RetryPolicy(max_retries=10)
    delays = [p.decide(http(500), n, rand=1.0).delay for n in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_server_delay_used_exactly_without_jitter() -> None:
    d = RetryPolicy().decide(rate_limited({"retry-after": "3"}), 0, rand=0.0, now=NOW)
    assert d == Decision(True, 3.0, d.reason)
    assert "server asks to wait" in d.reason
    d = RetryPolicy().decide(rate_limited({"retry-after-ms": "1500"}), 0, rand=0.0)
    assert d.delay == 1.5


def test_server_delay_from_message_hint() -> None:
    err = rate_limited(message="Rate limit reached. Please try again in 1.146s.")
    assert RetryPolicy().decide(err, 0, rand=0.0).delay == 1.146


def test_server_delay_on_500_is_honoured_too() -> None:
    assert RetryPolicy().decide(http(503, headers={"retry-after": "2"}), 0, rand=0).delay == 2.0


def test_server_delay_at_the_limit_is_waited() -> None:
    d = RetryPolicy().decide(rate_limited({"retry-after": "120"}), 0, rand=0.0, now=NOW)
    assert d.retry and d.delay == 120.0


def test_server_delay_too_long_gives_up_saying_when() -> None:
    d = RetryPolicy().decide(rate_limited({"retry-after": "300"}), 0, rand=0.0, now=NOW)
    assert not d.retry
    assert d.reason == (
        f"the server asks to wait 300 s (until {local_clock(NOW + 300)}); try again then"
    )
    assert d.hint is not None and "try again then" in d.hint


def test_server_date_too_long_gives_up() -> None:
    err = rate_limited({"retry-after": formatdate(NOW + 600, usegmt=True)})
    d = RetryPolicy().decide(err, 0, rand=0.0, now=NOW)
    assert not d.retry and "600 s" in d.reason and local_clock(NOW + 600) in d.reason


def test_message_hint_too_long_gives_up() -> None:
    err = rate_limited(message="Please try again in 6m0s.")
    d = RetryPolicy().decide(err, 0, rand=0.0, now=NOW)
    assert not d.retry and "360 s" in d.reason


def test_custom_max_server_wait() -> None:
    p = RetryPolicy(max_server_wait=5)
    assert not p.decide(rate_limited({"retry-after": "6"}), 0, rand=0).retry
    assert p.decide(rate_limited({"retry-after": "5"}), 0, rand=0).retry


def test_no_retries_left() -> None:
    p = RetryPolicy(max_retries=2)
    assert p.decide(http(500), 1, rand=0.5).retry
    assert p.decide(http(500), 2, rand=0.5) == Decision(False, 0.0, "no retries left")
    assert RetryPolicy(max_retries=0).decide(http(500), 0, rand=0.5).reason == "no retries left"


def test_too_long_wins_over_no_retries_left() -> None:
    # Saying when to come back is more useful than "no retries left".
    d = RetryPolicy(max_retries=0).decide(rate_limited({"retry-after": "900"}), 0, rand=0)
    assert "try again then" in d.reason


def test_not_retryable_wins_over_no_retries_left() -> None:
    d = RetryPolicy().decide(http(401), 5, rand=0)
    assert "not retryable" in d.reason


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "retries must be between 0 and 100, got -1"),
        ({"max_retries": 101}, "retries must be between 0 and 100, got 101"),
        ({"max_retries": 1.5}, "retries must be between 0 and 100, got 1.5"),
        ({"max_retries": True}, "retries must be between 0 and 100, got True"),
        ({"initial_delay": -0.1}, "initial_delay must be a number of seconds >= 0, got -0.1"),
        ({"initial_delay": math.nan}, "initial_delay must be"),
        ({"max_delay": math.inf}, "max_delay must be"),
        ({"jitter": (1.0, 0.5)}, "jitter must be a pair"),
        ({"jitter": (-0.1, 1.0)}, "jitter must be a pair"),
        ({"jitter": (0.5,)}, "jitter must be a pair"),
        ({"max_server_wait": -1}, "max_server_wait must be"),
        ({"max_server_wait": math.nan}, "max_server_wait must be"),
    ],
)
def test_policy_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamError) as info:
        RetryPolicy(**kwargs)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_policy_accepts_edges() -> None:
    RetryPolicy(max_retries=0)
    RetryPolicy(max_retries=100, initial_delay=0, max_delay=0, jitter=(1, 1))
    assert RetryPolicy(max_server_wait=math.inf).max_attempts == 3
    assert RetryPolicy(jitter=[0.5, 1.0]).jitter == (0.5, 1.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- runners


class Script:
    """A fake attempt: raises the scripted errors in order, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.attempts: list[int] = []

    def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def make_runner(
    policy: RetryPolicy | None = None,
) -> tuple[RetryRunner, list[float], list[RetryEvent]]:
    sleeps: list[float] = []
    events: list[RetryEvent] = []
    runner = RetryRunner(
        policy, sleep=sleeps.append, rand=lambda: 1.0, clock=lambda: NOW, on_retry=events.append
    )
    return runner, sleeps, events


def run_sync(policy: RetryPolicy | None, script: Script) -> tuple[Any, list[float], list[Any]]:
    runner, sleeps, events = make_runner(policy)
    try:
        return runner.call(script), sleeps, events
    except BaseException as exc:
        return exc, sleeps, events


def test_runner_succeeds_after_retries() -> None:
    script = Script(http(500), rate_limited({"retry-after-ms": "250"}))
    result, sleeps, events = run_sync(None, script)
    assert result == "ok"
    assert script.attempts == [1, 2, 3]
    assert sleeps == [0.5, 0.25]
    assert [(e.attempt, e.max_attempts, e.delay) for e in events] == [(1, 3, 0.5), (2, 3, 0.25)]
    assert isinstance(events[0].error, ServerError)
    assert events[0].after_tokens is None  # nothing had been shown
    why = "ServerError (HTTP 500) is retryable; backing off 0.5 s"
    assert events[0].reason == events[0].why == why


def test_runner_gives_up_and_counts_attempts() -> None:
    errors = [http(502), http(503), http(500)]
    script = Script(*errors)
    result, sleeps, events = run_sync(None, script)
    assert result is errors[2]
    assert result.attempts == 3
    assert "(after 3 attempts)" in str(result)
    assert script.attempts == [1, 2, 3]
    assert sleeps == [0.5, 1.0]
    assert len(events) == 2


def test_runner_backoff_sequence() -> None:
    script = Script(*[http(500) for _ in range(7)])
    result, sleeps, _ = run_sync(RetryPolicy(max_retries=6), script)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert result.attempts == 7


def test_runner_does_not_retry_non_retryable() -> None:
    err = http(401)
    script = Script(err)
    result, sleeps, events = run_sync(None, script)
    assert result is err and err.attempts == 1
    assert "attempts" not in str(err)
    assert sleeps == [] and events == [] and script.attempts == [1]


def test_runner_passes_foreign_exceptions_through() -> None:
    err = ZeroDivisionError("bug")
    result, sleeps, _ = run_sync(None, Script(err))
    assert result is err and sleeps == []
    assert not hasattr(err, "attempts")


def test_runner_never_catches_base_exceptions() -> None:
    class Stop(BaseException):
        pass

    script = Script(Stop())
    result, sleeps, _ = run_sync(None, script)
    assert isinstance(result, Stop) and sleeps == [] and script.attempts == [1]


def test_runner_server_wait_too_long_sets_hint() -> None:
    err = rate_limited({"retry-after": "300"})
    result, sleeps, _ = run_sync(None, Script(http(500), err))
    assert result is err and sleeps == [0.5]
    assert err.attempts == 2
    assert err.hint is not None and "300 s" in err.hint and "try again then" in err.hint
    assert local_clock(NOW + 300) in str(err)


def test_runner_extends_an_existing_hint() -> None:
    err = rate_limited({"retry-after": "300"})
    err.hint = "Lower your request rate."
    result, _, _ = run_sync(None, Script(err))
    assert result.hint.startswith("Lower your request rate. The server asks to wait 300 s")


def test_runner_with_zero_retries() -> None:
    err = http(500)
    script = Script(err)
    result, sleeps, _ = run_sync(RetryPolicy(max_retries=0), script)
    assert result is err and err.attempts == 1 and sleeps == [] and script.attempts == [1]


def test_runner_stream_interrupted_by_bad_request_is_final() -> None:
    err = StreamInterrupted("error event", partial="Hi", cause=http(400))
    result, sleeps, _ = run_sync(None, Script(err))
    assert result is err and err.attempts == 1 and sleeps == []


def test_runner_stream_interrupted_retried() -> None:
    script = Script(StreamInterrupted("dropped", cause=APIConnectionError("reset")))
    result, sleeps, _ = run_sync(None, script)
    assert result == "ok" and sleeps == [0.5]


def test_runner_uses_injected_rand_and_clock() -> None:
    sleeps: list[float] = []
    runner = RetryRunner(RetryPolicy(), sleep=sleeps.append, rand=lambda: 0.0, clock=lambda: NOW)
    err_date = rate_limited({"retry-after": formatdate(NOW + 4, usegmt=True)})
    assert runner.call(Script(http(500), err_date)) == "ok"
    assert sleeps == [0.375, pytest.approx(4.0)]


def test_retry_state_can_be_driven_by_hand() -> None:
    runner, _, events = make_runner()
    state = runner.start()
    assert state.attempt == 1
    assert state.failed(http(500)) == 0.5
    assert state.attempt == 2
    err = http(404)
    assert state.failed(err) is None
    assert err.attempts == 2 and len(events) == 1


def test_default_policy_when_none_given() -> None:
    assert RetryRunner().policy == RetryPolicy()


def test_retry_event_after_a_broken_stream_says_how_far_it_got() -> None:
    dropped = RetryEvent(attempt=1, max_attempts=3, delay=0.5, after_tokens=7,
                         error=StreamInterrupted("dropped", cause=APIConnectionError("reset")))
    assert dropped.reason == "connection dropped after 7 tokens; retried (attempt 2 of 3)"
    server = RetryEvent(attempt=2, max_attempts=3, delay=1.0, after_tokens=2,
                        error=StreamInterrupted("error event", cause=http(500, "overloaded")))
    assert server.reason == (
        "the server sent an error after 2 tokens (overloaded); retried (attempt 3 of 3)"
    )


def test_retry_state_passes_after_tokens_to_the_event() -> None:
    runner, _, events = make_runner()
    state = runner.start()
    assert state.failed(StreamInterrupted("cut", cause=APIConnectionError("reset")),
                        after_tokens=4) == 0.5
    assert (events[0].attempt, events[0].max_attempts, events[0].after_tokens) == (1, 3, 4)
