"""Every fault on the reliability list, against the scripted server over real HTTP.

Each test asserts how many attempts the server saw, the waits (an injected sleep records
them: nothing really sleeps) and the outcome.
"""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from talkline.client import AsyncClient, Client
from talkline.errors import (
    AuthenticationError,
    BadRequestError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
)
from talkline.ratelimit import RateLimiter
from talkline.testing import Error, Fault, Reply
from talkline.wire.timeouts import Timeouts

from .clihelp import run

KEY = "sk-test-fake-reliability"
ANSWER = "The complete answer, delivered in full."


class Recorder:
    """An injected clock: sleeping records the wait and moves the clock, instantly."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.events: list = []
        self.fallbacks: list = []
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def clock(self) -> float:
        return self.now

    def limiter(self) -> RateLimiter:
        return RateLimiter(clock=self.clock)


@pytest.fixture
def rec():
    return Recorder()


@pytest.fixture
def client(server, rec):
    c = Client(api_key=KEY, base_url=server.url, sleep=rec.sleep, rand=lambda: 1.0,
               rate_limiter=rec.limiter(),
               timeouts=Timeouts(connect=2, read=0.5, idle=0.5),
               on_retry=rec.events.append, on_fallback=rec.fallbacks.append)
    yield c
    c.close()


def attempts(server) -> int:
    return len(server.chat_requests)


@pytest.mark.parametrize(
    "error, wait",
    [
        (Error.rate_limit(retry_after_ms=250), 0.25),
        (Error.rate_limit(retry_after=3), 3.0),
        (Error.rate_limit(message_hint_seconds=1.146), 1.146),
        (Error.rate_limit(retry_after_ms=40, retry_after=9), 0.04),
    ],
)
def test_429_waits_exactly_what_the_server_says(server, client, rec, error, wait):
    server.script(error, Reply(ANSWER))
    resp = client.complete("hi")
    assert resp.content == ANSWER
    assert attempts(server) == 2 and resp.attempts == 2
    assert rec.waits == [pytest.approx(wait)]


def test_429_with_http_date(server, client, rec):
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    server.script(Error(429, "Rate limit reached for requests", "requests",
                        "rate_limit_exceeded", headers={"retry-after": when}), Reply(ANSWER))
    assert client.complete("hi").content == ANSWER
    # The date has whole seconds; the bucket's pause may add a millisecond of wall time.
    assert 3.5 <= rec.waits[0] <= 5.01 and sum(rec.waits) <= 5.05


def test_429_x_should_retry_false_is_final(server, client, rec):
    server.script(Error.rate_limit(retry_after_ms=10, should_retry=False), Reply(ANSWER))
    with pytest.raises(RateLimitError):
        client.complete("hi")
    assert attempts(server) == 1 and rec.waits == []


def test_x_should_retry_true_overrides_a_400(server, client, rec):
    server.script(Error(400, "try me again", "invalid_request_error",
                        headers={"x-should-retry": "true"}), Reply(ANSWER))
    assert client.complete("hi").content == ANSWER
    assert attempts(server) == 2


def test_quota_429_is_never_retried_and_says_billing(server, client, rec):
    server.script(Error.quota(), Reply(ANSWER))
    with pytest.raises(QuotaExceededError) as info:
        client.complete("hi")
    assert attempts(server) == 1 and rec.waits == []
    assert "billing" in str(info.value)


def test_request_too_large_is_never_retried(server, client):
    server.script(Error(429, "Request too large for gpt-4o in organization org-x on tokens per "
                             "min (TPM): Limit 30000, Requested 50000.", "tokens",
                        "rate_limit_exceeded"), Reply(ANSWER))
    with pytest.raises(QuotaExceededError):
        client.complete("hi")
    assert attempts(server) == 1


@pytest.mark.parametrize("error", [Error(500), Error.html(502), Error(503, "overloaded")])
def test_server_errors_then_success_with_backoff(server, client, rec, error):
    server.script(error, error, Reply(ANSWER))
    resp = client.complete("hi")
    assert resp.content == ANSWER and attempts(server) == 3
    assert rec.waits == [0.5, 1.0]  # rand=1: the top of the jitter range
    assert [e.attempt for e in rec.events] == [1, 2]


@pytest.mark.parametrize("error", [Error.invalid_key(), Error(400, "bad", "invalid_request_error"),
                                   Error(403, "no"), Error(422, "unprocessable")])
def test_client_errors_are_never_retried(server, client, error):
    server.script(error, Reply(ANSWER))
    with pytest.raises((AuthenticationError, BadRequestError, Exception)):
        client.complete("hi")
    assert attempts(server) == 1


def test_retries_exhausted_say_how_many(server, client, rec):
    server.script(Error(500), Error(500), Error(500), Reply(ANSWER))
    with pytest.raises(ServerError) as info:
        client.complete("hi")
    assert attempts(server) == 3
    assert "after 3 attempts" in str(info.value)


def test_retry_count_is_configurable_per_call_site(server, rec):
    server.script(Error(500), Error(500), Error(500), Error(500), Reply(ANSWER))
    with Client(api_key=KEY, base_url=server.url, retries=4, sleep=rec.sleep) as c:
        assert c.complete("hi").content == ANSWER
    assert attempts(server) == 5


def test_server_wait_over_120s_gives_up_with_when(server, client, rec):
    server.script(Error.rate_limit(retry_after=300), Reply(ANSWER))
    with pytest.raises(RateLimitError) as info:
        client.complete("hi")
    assert attempts(server) == 1 and rec.waits == []
    assert "300" in str(info.value) and "try again" in str(info.value).lower()


def test_same_idempotency_key_on_every_attempt(server, client):
    server.script(Error(500), Fault.reset(), Reply(ANSWER))
    client.complete("hi")
    keys = {r.headers.get("idempotency-key") for r in server.chat_requests}
    assert len(keys) == 1 and None not in keys
    client.complete("again")
    assert server.chat_requests[-1].headers["idempotency-key"] not in keys


def test_connection_reset_is_retried(server, client, rec):
    server.script(Fault.reset(), Reply(ANSWER))
    assert client.complete("hi").content == ANSWER
    assert attempts(server) == 2 and rec.waits == [0.5]


def test_read_timeout_is_retried(server, client, rec):
    server.script(Fault.stall(seconds=3), Reply(ANSWER))
    assert client.complete("hi").content == ANSWER
    assert attempts(server) == 2


def test_truncated_non_streamed_body_is_retried(server, client):
    server.script(Fault.cut_after(2), Reply(ANSWER))
    assert client.complete("hi").content == ANSWER
    assert attempts(server) == 2


def stream_text(stream) -> tuple[str, int]:
    text, restarts = "", 0
    for d in stream:
        if d.restart:
            text, restarts = "", restarts + 1
        text += d.content
    return text, restarts


def test_stream_cut_before_content_is_retried_silently(server, client, rec):
    server.script(Fault.cut_after(0), Reply(ANSWER))
    stream = client.stream("hi")
    text, restarts = stream_text(stream)
    assert text == ANSWER and restarts == 0
    assert attempts(server) == 2 and stream.response.content == ANSWER


def test_stream_cut_after_content_is_retried_and_restarts(server, client, rec):
    server.script(Fault.cut_after(3), Reply(ANSWER))
    stream = client.stream("hi")
    text, restarts = stream_text(stream)
    assert text == ANSWER and restarts == 1
    assert stream.response.content == ANSWER and stream.response.attempts == 2
    assert "connection dropped after 3 tokens; retried (attempt 2 of 3)" in rec.events[0].reason


def test_stream_stall_mid_stream_hits_idle_timeout_and_retries(server, client, rec):
    server.script(Fault.stall(after_chunks=2, seconds=5), Reply(ANSWER))
    t = time.monotonic()
    text, restarts = stream_text(client.stream("hi"))
    assert text == ANSWER and restarts == 1
    assert time.monotonic() - t < 4


def test_stream_error_event_is_classified_and_retried(server, client, rec):
    server.script(Fault.error_event(after_chunks=2, status_like=500), Reply(ANSWER))
    text, _ = stream_text(client.stream("hi"))
    assert text == ANSWER and attempts(server) == 2
    assert "the server sent an error after 2 tokens" in rec.events[0].reason


def test_stream_error_event_naming_a_400_is_not_retried(server, client):
    server.script(Fault.error_event(after_chunks=1, status_like=400), Reply(ANSWER))
    with pytest.raises(StreamInterrupted) as info:
        stream_text(client.stream("hi"))
    assert isinstance(info.value.cause, BadRequestError)
    assert attempts(server) == 1


def test_stream_rate_limit_event_waits_as_told(server, client, rec):
    server.script(Fault.error_event(after_chunks=0, status_like=429,
                                    message="Rate limit reached. Please try again in 0.7s."),
                  Reply(ANSWER))
    assert stream_text(client.stream("hi"))[0] == ANSWER
    assert rec.waits == [pytest.approx(0.7)]


def test_no_resume_gives_stream_interrupted_with_partial(server, client):
    server.script(Fault.cut_after(2, content="alpha beta gamma delta"), Reply(ANSWER))
    got = ""
    with pytest.raises(StreamInterrupted) as info:
        for d in client.stream("hi", resume=False):
            got += d.content
    assert info.value.partial == got and got
    assert attempts(server) == 1


def test_fallback_on_unknown_model(server, rec):
    server.script(Error.not_found_model("gpt-nope"), Reply(ANSWER))
    with Client(api_key=KEY, base_url=server.url, model="gpt-nope", fallbacks=["gpt-4o-mini"],
                sleep=rec.sleep, on_fallback=rec.fallbacks.append) as c:
        resp = c.complete("hi")
    assert resp.content == ANSWER
    assert [r.body["model"] for r in server.chat_requests] == ["gpt-nope", "gpt-4o-mini"]
    assert resp.model == "gpt-4o-mini" and resp.requested_model == "gpt-nope"
    assert rec.fallbacks[0].to_model == "gpt-4o-mini"


def test_fallback_after_retries_exhausted_on_server_errors(server, rec):
    server.script(Error(500), Error(500), Reply(ANSWER))
    with Client(api_key=KEY, base_url=server.url, model="gpt-4o", retries=1,
                fallbacks=["gpt-4o-mini"], sleep=rec.sleep) as c:
        stream = c.stream("hi")
        assert stream_text(stream)[0] == ANSWER
    assert [r.body["model"] for r in server.chat_requests] == ["gpt-4o", "gpt-4o", "gpt-4o-mini"]


def test_no_fallback_on_auth_errors(server, rec):
    server.script(Error.invalid_key(), Reply(ANSWER))
    with Client(api_key=KEY, base_url=server.url, fallbacks=["gpt-4o"], sleep=rec.sleep) as c:
        with pytest.raises(AuthenticationError):
            c.complete("hi")
    assert attempts(server) == 1


def test_async_client_retries_the_same_way(server, rec):
    server.script(Error.rate_limit(retry_after_ms=100), Fault.cut_after(2), Reply(ANSWER))

    async def go():
        async with AsyncClient(api_key=KEY, base_url=server.url, sleep=rec.asleep,
                               rate_limiter=rec.limiter(), rand=lambda: 1.0) as c:
            stream = c.stream("hi")
            text = ""
            async for d in stream:
                text = "" if d.restart else text + d.content
            return text, stream.response

    text, resp = asyncio.run(go())
    assert text == ANSWER and resp.attempts == 3
    assert rec.waits == [pytest.approx(0.1), 1.0]


def test_cli_pipe_gets_the_answer_once_after_a_cut(server):
    server.script(Fault.cut_after(3), Reply(ANSWER))
    r = run("hi", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 0, r.err
    assert r.out == ANSWER + "\n"
    assert "connection dropped after 3 tokens; retried (attempt 2 of 3)" in r.err


def test_cli_forced_stream_to_a_pipe_fails_loudly_on_a_cut(server):
    server.script(Fault.cut_after(3, content="alpha beta gamma delta epsilon"), Reply(ANSWER))
    r = run("--stream", "hi", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 1
    assert ANSWER not in r.out  # never a spliced reply
    assert "Stream interrupted" in r.err
    assert len(server.chat_requests) == 1


def test_cli_retries_flag(server):
    server.script(Error(500), Reply(ANSWER))
    r = run("--retries", "0", "hi", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 1 and len(server.chat_requests) == 1


def test_cli_fallback_says_which_model_answered(server):
    server.script(Error.not_found_model("gpt-nope"), Reply(ANSWER))
    r = run("-m", "gpt-nope", "--fallback", "gpt-4o-mini", "hi",
            env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 0, r.err
    assert r.out == ANSWER + "\n"
    assert "falling back to gpt-4o-mini" in r.err
    assert "answered by gpt-4o-mini (fallback from gpt-nope)" in r.err
