"""The text completions endpoint (`POST /v1/completions`) through the library: the bodies
sent (each checked against the official `CreateCompletionRequest` schema), whole and
streamed answers, retries and fallbacks, the retired `/engines/...` form, a server that
serves no completions, and hostile answers from a server that controls every byte."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from talkline.client import AsyncClient, AsyncTextStream, Client, TextStream
from talkline.errors import (
    ConfigError,
    NotFoundError,
    ParamError,
    ResponseFormatError,
    ResponseTooLarge,
    ServerError,
    StreamInterrupted,
)
from talkline.settings import Settings
from talkline.testing import Error, Fault, Reply
from talkline.types import TextCompletion, TextDelta

from .openapi_schema import validate
from .test_hostile_shapes import Canned, RawServer

KEY = "sk-test-completions-0001"
MODEL = "davinci-002"


def client(server: Any, **kw: Any) -> Client:
    return Client(base_url=server.url, api_key=KEY, model=MODEL, retries=2,
                  sleep=lambda s: None, **kw)


def bodies(server: Any) -> list[dict[str, Any]]:
    """Every /completions body sent, each valid by the official schema."""
    out = [r.body for r in server.requests if r.path.endswith("/v1/completions")]
    for body in out:
        validate("CreateCompletionRequest", body)
    return out


def test_a_whole_completion_sends_every_field_and_parses_the_answer(server: Any) -> None:
    server.script(Reply("Paris, the capital.", finish_reason="length"))
    with client(server) as c:
        r = c.complete_text("France's capital is", max_tokens=7, temperature=0.5, top_p=0.9,
                            stop=["\n", "."], n=1, seed=42, echo=True, logprobs=3,
                            suffix=" and that is all.")
    assert isinstance(r, TextCompletion)
    assert r.text == "France's capital isParis, the capital."
    assert r.finish_reason == "length" and r.model == MODEL and r.id.startswith("cmpl-")
    assert r.choices[0].logprobs["tokens"][0] == "France's"
    assert r.usage is not None and r.usage.total_tokens > 0
    [body] = bodies(server)
    assert body == {"model": MODEL, "prompt": "France's capital is", "max_tokens": 7,
                    "temperature": 0.5, "top_p": 0.9, "stop": ["\n", "."], "n": 1,
                    "seed": 42, "echo": True, "logprobs": 3, "suffix": " and that is all."}
    assert r.to_dict()["object"] == "text_completion"
    assert r.to_dict()["choices"][0]["text"] == r.text


def test_a_streamed_completion_yields_text_deltas_and_the_whole_answer(server: Any) -> None:
    server.script(Reply("one two three"))
    with client(server) as c:
        stream = c.complete_text("Count:", stream=True)
        assert isinstance(stream, TextStream)
        deltas = list(stream)
    assert all(isinstance(d, TextDelta) for d in deltas)
    assert "".join(d.text for d in deltas) == "one two three"
    assert any(d.usage is not None for d in deltas)
    assert stream.response is not None and stream.response.text == "one two three"
    [body] = bodies(server)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_n_choices_each_keep_their_text(server: Any) -> None:
    server.script(Reply(choices=["red", "green", "blue"]))
    with client(server) as c:
        r = c.complete_text("A colour:", n=3)
    assert isinstance(r, TextCompletion)
    assert [c.text for c in r.choices] == ["red", "green", "blue"]
    assert bodies(server)[0]["n"] == 3


def test_a_rate_limit_is_retried_and_a_broken_stream_is_never_the_answer(server: Any) -> None:
    server.script(Error.rate_limit(retry_after_ms=1), Fault.cut_after(2), Reply("whole text"))
    with client(server) as c:
        stream = c.complete_text("Go", stream=True)
        deltas = list(stream)
    assert any(d.restart for d in deltas)  # what the broken attempt showed is dropped
    assert stream.response is not None and stream.response.text == "whole text"
    assert stream.response.attempts == 3
    assert len(bodies(server)) == 3


def test_a_stream_that_breaks_for_good_raises_with_its_partial_text(server: Any) -> None:
    server.script(*[Fault.cut_after(2)] * 3)
    with client(server) as c, pytest.raises(StreamInterrupted) as info:
        list(c.complete_text("Go", stream=True))
    assert info.value.partial


def test_a_fallback_model_answers_when_the_first_fails(server: Any) -> None:
    server.script(Error.not_found_model(MODEL), Reply("from the fallback"))
    with Client(base_url=server.url, api_key=KEY, model=MODEL, retries=2,
                fallbacks=["babbage-002"], sleep=lambda s: None) as c:
        r = c.complete_text("Hi")
    assert isinstance(r, TextCompletion) and r.text == "from the fallback"
    assert [b["model"] for b in bodies(server)] == [MODEL, "babbage-002"]


def test_the_async_twin_sends_the_same_body(server: Any) -> None:
    server.script(Reply("async whole"), Reply("async streamed"))

    async def go() -> tuple[TextCompletion, str]:
        async with AsyncClient(base_url=server.url, api_key=KEY, model=MODEL) as c:
            whole = await c.complete_text("Hi", max_tokens=3, echo=False, logprobs=0)
            stream = await c.complete_text("Hi", max_tokens=3, stream=True)
            assert isinstance(stream, AsyncTextStream)
            text = "".join([d.text async for d in stream])
            assert isinstance(whole, TextCompletion)
            return whole, text

    whole, text = asyncio.run(go())
    assert whole.text == "async whole" and text == "async streamed"
    first, second = bodies(server)
    assert first == {"model": MODEL, "prompt": "Hi", "max_tokens": 3, "echo": False,
                     "logprobs": 0}
    assert second["stream"] is True


@pytest.mark.parametrize("kw, said", [
    ({"logprobs": 6}, "logprobs must be a whole number from 0 to 5"),
    ({"logprobs": True}, "logprobs must be a whole number from 0 to 5"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop takes at most 4 sequences"),
    ({"temperature": 3}, "temperature must be between 0 and 2"),
    ({"n": 0}, "n must be between 1 and 128"),
])
def test_a_wrong_value_is_refused_before_sending(server: Any, kw: dict[str, Any],
                                                 said: str) -> None:
    with client(server) as c, pytest.raises(ParamError, match=said):
        c.complete_text("Hi", **kw)
    assert bodies(server) == []


@pytest.mark.parametrize("url", ["https://api.openai.com/v1/engines/davinci-codex",
                                 "http://127.0.0.1:9/v1/engines/text-davinci-003/"])
def test_the_retired_engines_form_is_refused_naming_the_modern_call(url: str) -> None:
    with Client(base_url=url, api_key=KEY, model=MODEL) as c, \
            pytest.raises(ConfigError) as info:
        c.complete_text("def fib(n):")
    message = info.value.message
    assert "was retired (engines gave way to models in June 2022)" in message
    assert "nothing was sent" in message
    assert 'talkline complete -m MODEL (POST ' in message
    assert '/v1/completions with "model": "MODEL")' in message
    assert info.value.hint is not None and "--base-url" in info.value.hint


def test_a_server_without_completions_for_the_model_points_to_chat(server: Any) -> None:
    server.completions_api = False
    with client(server) as c, pytest.raises(NotFoundError) as info:
        c.complete_text("Hi")
    assert "serves no text completions for this model" in info.value.message
    assert "This is a chat model" in info.value.message
    assert info.value.hint is not None and "use `talkline prompt`" in info.value.hint


# -- a hostile server: every byte of its answer is the test's


@pytest.fixture
def raw() -> Iterator[RawServer]:
    srv = RawServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


def text_completion(**fields: Any) -> bytes:
    base: dict[str, Any] = {"id": "cmpl-1", "object": "text_completion", "created": 1,
                            "model": MODEL,
                            "choices": [{"index": 0, "text": "ok", "finish_reason": "stop",
                                         "logprobs": None}]}
    base.update(fields)
    return json.dumps(base).encode()


def raw_client(raw: RawServer, **settings: Any) -> Client:
    return Client(settings=Settings(base_url=raw.url, api_key=KEY, model=MODEL, retries=0,
                                    **settings))


@pytest.mark.parametrize("fields, said", [
    ({"choices": "x"}, "choices as a string, not a list"),
    ({"choices": [5]}, "choices[0] as a number, not an object"),
    ({"choices": [{"index": 0, "text": 5}]}, "choices[0].text as a number, not a string"),
    ({"choices": [{"text": "x", "logprobs": "many"}]}, "choices[0].logprobs as a string"),
    ({"choices": [{"index": "0", "text": "x"}]}, "choices[0].index as a string"),
    ({"choices": []}, "choices empty: no answer came back"),
    ({"usage": {"prompt_tokens": -1}}, "usage.prompt_tokens = -1"),
])
def test_a_wrong_shape_is_a_clear_error_naming_the_field(raw: RawServer, fields: dict[str, Any],
                                                         said: str) -> None:
    raw.script(Canned(200, text_completion(**fields)))
    with raw_client(raw) as c, pytest.raises(ResponseFormatError) as info:
        c.complete_text("Hi")
    assert said in info.value.message


def test_a_body_that_is_not_json_is_a_clear_error(raw: RawServer) -> None:
    raw.script(Canned(200, b"<html>oops</html>", "text/html"))
    with raw_client(raw) as c, pytest.raises(ServerError) as info:
        c.complete_text("Hi")
    assert "with a body that is not JSON: b'<html>oops</html>'" in info.value.message


def test_a_huge_answer_is_refused_at_the_body_limit(raw: RawServer) -> None:
    raw.script(Canned(200, text_completion(choices=[{"index": 0, "text": "x" * 300_000}])))
    with raw_client(raw, max_body_bytes=100_000) as c, pytest.raises(ResponseTooLarge):
        c.complete_text("Hi")


def sse(*events: Any, done: bool = True) -> Canned:
    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    return Canned(200, (text + ("data: [DONE]\n\n" if done else "")).encode(),
                  "text/event-stream")


def piece(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"id": "cmpl-1", "object": "text_completion", "model": MODEL,
            "choices": [{"index": 0, "text": text, "finish_reason": finish}]}


def test_a_stream_cut_before_its_end_is_interrupted_not_an_answer(raw: RawServer) -> None:
    raw.script(sse(piece("half an "), piece("answer"), done=False))
    with raw_client(raw) as c, pytest.raises(StreamInterrupted) as info:
        list(c.complete_text("Hi", stream=True))
    assert info.value.partial == "half an answer"


def test_a_stream_event_of_the_wrong_shape_is_an_error(raw: RawServer) -> None:
    raw.script(sse(piece("fine "), {"choices": [{"index": 0, "text": ["not", "text"]}]}))
    with raw_client(raw) as c, pytest.raises(StreamInterrupted) as info:
        list(c.complete_text("Hi", stream=True))
    assert "choices[0].text as a list" in info.value.message


def test_a_stream_event_over_the_event_limit_is_refused(raw: RawServer) -> None:
    raw.script(sse(piece("x" * 50_000, "stop")))
    with raw_client(raw, max_event_bytes=10_000) as c, pytest.raises(StreamInterrupted) as info:
        list(c.complete_text("Hi", stream=True))
    assert "one stream event larger than 10,000 bytes; refused" in info.value.message


def test_a_whole_answer_to_a_streamed_request_is_taken(raw: RawServer) -> None:
    raw.script(Canned(200, text_completion()))
    with raw_client(raw) as c:
        stream = c.complete_text("Hi", stream=True)
        assert isinstance(stream, TextStream)
        assert "".join(d.text for d in stream) == "ok"


def test_a_think_block_in_a_completion_is_kept_as_text(raw: RawServer) -> None:
    raw.script(Canned(200, text_completion(choices=[{"index": 0, "text": "<think>a</think>b"}])))
    with raw_client(raw) as c:
        r = c.complete_text("Hi")
    assert isinstance(r, TextCompletion) and r.text == "<think>a</think>b"
