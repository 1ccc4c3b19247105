"""The client's one typed request, and its two twins driving the same loop, over real HTTP
against the scripted server (an injected sleep records the waits: nothing really sleeps)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from talkline.client import AsyncClient, Client
from talkline.errors import ParamError, StreamInterrupted
from talkline.ratelimit import RateLimiter
from talkline.retry import RetryEvent
from talkline.settings import Settings
from talkline.testing import Error, Fault, Reply
from talkline.types import ChatParams
from talkline.wire.timeouts import Timeouts

KEY = "sk-test-fake-client"
ANSWER = "The complete answer, delivered in full."


class Spy(RateLimiter):
    """A real limiter that also notes what the client told it."""

    def __init__(self) -> None:
        super().__init__(rpm=6000, tpm=6_000_000)
        self.pauses: list[tuple[str | None, float]] = []
        self.settled: list[int | None] = []

    def pause(self, key: tuple[str, str], kind: str | None, seconds: float) -> None:
        self.pauses.append((kind, seconds))
        super().pause(key, kind, seconds)

    def reconcile(self, reservation: Any, actual_total_tokens: int | None) -> None:
        self.settled.append(actual_total_tokens)
        super().reconcile(reservation, actual_total_tokens)


class Run:
    """One call through either twin, with what it waited and what it was told."""

    def __init__(self, server: Any, twin: str, **options: Any) -> None:
        self.waits: list[float] = []
        self.events: list[RetryEvent] = []
        self.fallbacks: list[Any] = []
        self.limiter = Spy()
        self.twin = twin
        self.options = dict(api_key=KEY, base_url=server.url, rand=lambda: 1.0,
                            rate_limiter=self.limiter, on_retry=self.events.append,
                            on_fallback=self.fallbacks.append, **options)

    def stream(self, messages: str = "hi", **call: Any) -> tuple[str, int, Any]:
        """(the text the caller ends with, how many restarts, the stream's response)."""
        if self.twin == "sync":
            with Client(sleep=self.waits.append, **self.options) as client:
                stream = client.stream(messages, **call)
                text, restarts = _read(list(stream))
                return text, restarts, stream.response

        async def go() -> tuple[str, int, Any]:
            async def asleep(seconds: float) -> None:
                self.waits.append(seconds)

            async with AsyncClient(sleep=asleep, **self.options) as client:
                stream = client.stream(messages, **call)
                text, restarts = _read([d async for d in stream])
                return text, restarts, stream.response

        return asyncio.run(go())

    def complete(self, messages: str = "hi", **call: Any) -> Any:
        if self.twin == "sync":
            with Client(sleep=self.waits.append, **self.options) as client:
                return client.complete(messages, **call)

        async def go() -> Any:
            async def asleep(seconds: float) -> None:
                self.waits.append(seconds)

            async with AsyncClient(sleep=asleep, **self.options) as client:
                return await client.complete(messages, **call)

        return asyncio.run(go())


def _read(deltas: list[Any]) -> tuple[str, int]:
    text, restarts = "", 0
    for d in deltas:
        if d.restart:
            text, restarts = "", restarts + 1
        text += d.content
    return text, restarts


twins = pytest.mark.parametrize("twin", ["sync", "async"])


def settings_for(server: Any, **params: Any) -> Settings:
    return Settings.resolve(api_key=KEY, base_url=server.url, model="gpt-4o-mini",
                            params=params)


def sent(server: Any, i: int = -1) -> dict[str, Any]:
    return dict(server.chat_requests[i].body)


# ---------------------------------------------------------------- one typed request


@twins
def test_params_are_sent_as_they_are(server: Any, twin: str) -> None:
    """`params=` is the whole request: the settings' parameters are not merged in again."""
    run = Run(server, twin, settings=settings_for(server, temperature=0.2, max_tokens=50))
    params = ChatParams(model="gpt-4o", top_p=0.5, max_completion_tokens=9)
    assert run.complete(params=params).content
    body = sent(server)
    assert body["model"] == "gpt-4o" and body["top_p"] == 0.5
    assert body["max_completion_tokens"] == 9
    assert "temperature" not in body and "max_tokens" not in body
    run.stream(params=params)
    assert "max_tokens" not in sent(server) and sent(server)["stream"] is True


@twins
def test_keywords_go_over_the_settings_params(server: Any, twin: str) -> None:
    run = Run(server, twin, settings=settings_for(server, temperature=0.2, max_tokens=50))
    run.complete(temperature=0.7, extra_body={"top_k": 3})
    body = sent(server)
    assert (body["temperature"], body["max_tokens"], body["top_k"]) == (0.7, 50, 3)
    assert body["model"] == "gpt-4o-mini"


@twins
def test_the_model_comes_from_params_then_the_argument_then_the_settings(
        server: Any, twin: str) -> None:
    run = Run(server, twin, settings=settings_for(server))
    run.complete(model="gpt-4o", params=ChatParams(model="gpt-4.1"))
    run.complete(model="gpt-4o", params=ChatParams(seed=1))
    run.complete(params=ChatParams(seed=1))
    assert [r.body["model"] for r in server.chat_requests] == ["gpt-4.1", "gpt-4o",
                                                              "gpt-4o-mini"]


@twins
def test_params_and_keywords_together_are_refused_with_the_fix(server: Any, twin: str) -> None:
    run = Run(server, twin)
    with pytest.raises(ParamError) as info:
        run.complete(params=ChatParams(seed=1), temperature=0.3)
    message = str(info.value)
    assert "request parameters given twice: params= and temperature=" in message
    assert "Put them all in the ChatParams, or pass them all as keywords" in message
    assert server.chat_requests == []


def test_a_bad_keyword_fails_before_anything_is_sent(server: Any) -> None:
    with Client(api_key=KEY, base_url=server.url) as client, pytest.raises(ParamError) as info:
        client.stream("hi", temperature=5)
    assert "temperature must be between 0 and 2, got 5" in str(info.value)
    assert server.chat_requests == []


def test_timeouts_are_built_from_the_settings(server: Any) -> None:
    settings = settings_for(server).replace(connect_timeout=2.0, timeout=40.0, idle_timeout=3.0)
    assert Timeouts.from_settings(settings) == Timeouts(connect=2.0, read=40.0, idle=3.0)


# ---------------------------------------------------------------- the twins, one loop


@twins
def test_both_twins_walk_the_same_retries_and_hand_back_the_response(
        server: Any, twin: str) -> None:
    server.script(Error(500), Fault.cut_after(0), Fault.cut_after(3), Reply(ANSWER))
    run = Run(server, twin, retries=3)
    text, restarts, response = run.stream()
    assert (text, restarts) == (ANSWER, 1)
    assert response is not None and response.content == ANSWER and response.attempts == 4
    assert run.waits == [0.5, 1.0, 2.0]
    assert [(e.attempt, e.max_attempts, e.delay, e.after_tokens) for e in run.events] == [
        (1, 4, 0.5, None), (2, 4, 1.0, None), (3, 4, 2.0, 3)]
    assert run.events[2].reason == "connection dropped after 3 tokens; retried (attempt 4 of 4)"
    assert run.events[0].reason == run.events[0].why  # nothing shown: the policy's reason
    assert len(run.limiter.settled) == 4  # every attempt's reservation was settled


@twins
def test_both_twins_fall_back_the_same_way(server: Any, twin: str) -> None:
    server.script(Error.not_found_model("gpt-nope"), Error(503), Error(503), Reply(ANSWER))
    run = Run(server, twin, model="gpt-nope", retries=1, fallbacks=["gpt-4o", "gpt-4o-mini"])
    text, _, response = run.stream()
    assert text == ANSWER and response.requested_model == "gpt-nope"
    assert [r.body["model"] for r in server.chat_requests] == [
        "gpt-nope", "gpt-4o", "gpt-4o", "gpt-4o-mini"]
    assert [(f.from_model, f.to_model) for f in run.fallbacks] == [
        ("gpt-nope", "gpt-4o"), ("gpt-4o", "gpt-4o-mini")]


@twins
def test_no_resume_raises_and_never_falls_back(server: Any, twin: str) -> None:
    server.script(Fault.cut_after(2, content="alpha beta gamma delta"), Reply(ANSWER))
    run = Run(server, twin, fallbacks=["gpt-4o"])
    with pytest.raises(StreamInterrupted) as info:
        run.stream(resume=False)
    assert info.value.partial and info.value.attempts == 1
    assert len(server.chat_requests) == 1 and run.fallbacks == [] and run.events == []


@twins
def test_a_stream_closed_early_settles_its_reservation(server: Any, twin: str) -> None:
    server.script(Reply("one two three four five six"))
    run = Run(server, twin)

    if twin == "sync":
        with Client(sleep=run.waits.append, **run.options) as client:
            stream = client.stream("hi")
            next(iter(stream))
            stream.close()
    else:
        async def go() -> None:
            async with AsyncClient(**run.options) as client:
                stream = client.stream("hi")
                await stream.__anext__()
                await stream.aclose()

        asyncio.run(go())
    assert run.limiter.settled == [None]  # given back at once, with no usage known


# ---------------------------------------------------------------- rate limits


@pytest.mark.parametrize("error, kind", [
    (Error(429, "Rate limit reached on requests per min (RPM): Limit 3, Used 3, Requested 1 "
                "(about 200 tokens)", "requests", "rate_limit_exceeded",
           headers={"retry-after-ms": "300"}), "requests"),
    (Error(429, "Rate limit reached on tokens per min (TPM): Limit 100, Used 100.", "",
           "rate_limit_exceeded", headers={"retry-after-ms": "300"}), "tokens"),
    (Error(429, "Slow down.", "", "rate_limit_exceeded", headers={"retry-after-ms": "300"}),
     None),
])
def test_a_429_pauses_the_bucket_it_names(server: Any, error: Error, kind: str | None) -> None:
    server.script(error, Reply(ANSWER))
    run = Run(server, "sync")
    assert run.complete().content == ANSWER
    assert run.limiter.pauses == [(kind, pytest.approx(0.3))]


# ---------------------------------------------------------------- the callers


def test_the_cli_sends_the_config_params_once(server: Any, talkline_home: Any) -> None:
    """The settings' parameters reach the request through the layers only: a cap from the
    config file goes out as the one field the model takes, never as both."""
    from .clihelp import run as run_cli

    (talkline_home / "config.toml").write_text("[params]\nmax_tokens = 40\ntemperature = 0.3\n")
    r = run_cli("-m", "o3-mini", "hi", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 0, r.err
    body = sent(server)
    assert body["max_completion_tokens"] == 40 and "max_tokens" not in body
    assert body["temperature"] == 0.3


def test_a_session_without_a_request_layers_params_over_the_settings(server: Any) -> None:
    from talkline.session.conversation import ChatSession

    with Client(settings=settings_for(server, temperature=0.2, max_tokens=50)) as client:
        list(ChatSession(client).send("hi"))
        assert (sent(server)["temperature"], sent(server)["max_tokens"]) == (0.2, 50)
        session = ChatSession(client, params=ChatParams(temperature=0.9))
        list(session.send("again", stream=False))
        assert (sent(server)["temperature"], sent(server)["max_tokens"]) == (0.9, 50)
        assert "stream" not in sent(server)
