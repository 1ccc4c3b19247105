"""The HTTP wire (talkline.backends.remote) against the scripted server, for real."""

from __future__ import annotations

import asyncio

import pytest

from talkline.backends.base import ChatRequest
from talkline.backends.remote import AsyncRemoteBackend, RemoteBackend
from talkline.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
)
from talkline.testing import Error, Fault, Reply, ScriptedServer
from talkline.types import ChatParams, Message
from talkline.wire.timeouts import Timeouts

from .openapi_schema import validate

FAKE_KEY = "sk-test-fake-key-0000"


def req(text: str = "Hello", **params: object) -> ChatRequest:
    return ChatRequest(
        messages=(Message("system", "Be brief."), Message("user", text)),
        params=ChatParams(model="gpt-4o-mini", **params),  # type: ignore[arg-type]
    )


@pytest.fixture
def backend(server: ScriptedServer):
    b = RemoteBackend(server.url, FAKE_KEY, timeouts=Timeouts(connect=2, read=5, idle=1))
    yield b
    b.close()


def test_request_body_is_exactly_what_the_api_expects(server, backend):
    backend.complete(
        req(
            "Hi",
            temperature=0.2,
            max_tokens=20,
            n=2,
            seed=7,
            stop=("\n", "END"),
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            response_format={"type": "json_object"},
        )
    )
    rec = server.chat_requests[-1]
    assert rec.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "temperature": 0.2,
        "max_tokens": 20,
        "n": 2,
        "seed": 7,
        "stop": ["\n", "END"],
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "response_format": {"type": "json_object"},
    }
    assert rec.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert rec.headers["content-type"] == "application/json"
    validate("CreateChatCompletionRequest", rec.body)


def test_stream_request_asks_for_usage(server, backend):
    list(backend.stream(req("Hi")))
    body = server.chat_requests[-1].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    validate("CreateChatCompletionRequest", body)


def test_complete_parses_response_and_keeps_unknown_fields(server, backend):
    server.script(Reply("Paris.", extra={"brand_new_field": {"x": 1}}))
    resp = backend.complete(req())
    assert resp.content == "Paris."
    assert resp.finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens > 0
    assert resp.extra["brand_new_field"] == {"x": 1}
    assert resp.request_id and resp.request_id.startswith("req_")


def test_stream_joins_to_the_whole_text_with_usage(server, backend):
    text = "One two three, four five six.\nSeven eight."
    server.script(Reply(text))
    deltas = list(backend.stream(req()))
    assert "".join(d.content for d in deltas) == text
    assert deltas[0].role == "assistant"
    assert any(d.finish_reason == "stop" for d in deltas)
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_stream_line_endings(server, backend, ending):
    server.sse_line_ending = ending
    server.script(Reply("Line endings: all three of them", comments=True, multiline_data=True))
    deltas = list(backend.stream(req()))
    assert "".join(d.content for d in deltas) == "Line endings: all three of them"


def test_stream_n_choices_by_index(server, backend):
    server.script(Reply(choices=["alpha beta", "gamma delta"]))
    texts: dict[int, str] = {}
    for d in backend.stream(req(n=2)):
        texts[d.index] = texts.get(d.index, "") + d.content
    assert texts == {0: "alpha beta", 1: "gamma delta"}


def test_stream_tool_call_fragments_are_joined(server):
    from talkline.client import Client

    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "C"}'},
    }
    server.script(Reply(content=None, tool_calls=[call]))
    with Client(api_key=FAKE_KEY, base_url=server.url) as client:
        stream = client.stream("weather?")
        stream.until_done()
    resp = stream.response
    assert resp is not None
    assert resp.finish_reason == "tool_calls"
    tc = resp.message.tool_calls[0]
    assert (tc.id, tc.name, tc.arguments) == (
        "call_1",
        "get_weather",
        '{"city": "Paris", "unit": "C"}',
    )


def test_cut_stream_raises_stream_interrupted_with_partial_text(server, backend):
    server.script(Fault.cut_after(3, content="alpha beta gamma delta epsilon"))
    got = ""
    with pytest.raises(StreamInterrupted) as info:
        for d in backend.stream(req()):
            got += d.content
    assert info.value.partial == got
    assert got and "alpha beta gamma delta epsilon".startswith(got)
    assert got != "alpha beta gamma delta epsilon"


def test_error_event_mid_stream_raises_with_partial_and_cause(server, backend):
    server.script(Fault.error_event(after_chunks=2, status_like=500))
    with pytest.raises(StreamInterrupted) as info:
        list(backend.stream(req()))
    assert info.value.partial
    assert isinstance(info.value.cause, ServerError)


def test_reset_mid_stream_is_interrupted_with_connection_cause(server, backend):
    server.script(Fault.reset(after_chunks=2))
    with pytest.raises(StreamInterrupted) as info:
        list(backend.stream(req()))
    assert isinstance(info.value.cause, APIConnectionError)


def test_stall_mid_stream_hits_the_idle_timeout(server):
    server.script(Fault.stall(after_chunks=1, seconds=5))
    b = RemoteBackend(server.url, FAKE_KEY, timeouts=Timeouts(idle=0.3))
    try:
        with pytest.raises(StreamInterrupted) as info:
            list(b.stream(req()))
        assert isinstance(info.value.cause, APITimeoutError)
    finally:
        b.close()


def test_connection_refused_is_api_connection_error():
    b = RemoteBackend("http://127.0.0.1:9/v1", FAKE_KEY, timeouts=Timeouts(connect=1))
    try:
        with pytest.raises(APIConnectionError):
            b.complete(req())
    finally:
        b.close()


@pytest.mark.parametrize(
    "action, cls, code",
    [
        (Error.invalid_key(), AuthenticationError, "invalid_api_key"),
        (
            Error(403, "Country not supported", "invalid_request_error", "unsupported_country"),
            PermissionDeniedError,
            "unsupported_country",
        ),
        (Error.not_found_model("gpt-nope"), NotFoundError, "model_not_found"),
        (
            Error(
                400, "Invalid value for 'temperature'", "invalid_request_error", None, "temperature"
            ),
            BadRequestError,
            None,
        ),
        (Error.context_length(), ContextLengthExceededError, "context_length_exceeded"),
        (Error.rate_limit(retry_after=1), RateLimitError, "rate_limit_exceeded"),
        (Error.quota(), QuotaExceededError, "insufficient_quota"),
        (Error(500), ServerError, None),
        (Error(503, "Service unavailable", "server_error"), ServerError, None),
    ],
)
def test_every_error_status_maps_to_its_class(server, backend, action, cls, code):
    server.script(action)
    with pytest.raises(cls) as info:
        backend.complete(req())
    err = info.value
    assert err.status == action.status
    assert err.code == code
    assert err.request_id and err.request_id.startswith("req_")
    assert err.body and "error" in err.body
    validate("ErrorResponse", err.body)


def test_auth_error_says_what_to_do_and_hides_the_key(server, backend):
    server.script(Error.invalid_key())
    with pytest.raises(AuthenticationError) as info:
        backend.complete(req())
    text = str(info.value)
    assert f"Invalid API key for {server.url}" in text
    assert "talkline keys set openai" in text
    assert FAKE_KEY not in text


def test_html_502_becomes_a_readable_server_error(server, backend):
    server.script(Error.html(502))
    with pytest.raises(ServerError) as info:
        backend.complete(req())
    assert info.value.status == 502
    assert "502" in info.value.message and "<html" not in info.value.message.lower()


def test_plain_text_error_body(server, backend):
    server.script(Error(503, body="upstream connect error", content_type="text/plain"))
    with pytest.raises(ServerError) as info:
        backend.complete(req())
    assert "upstream connect error" in info.value.message


def test_context_length_numbers_are_parsed(server, backend):
    server.script(Error.context_length(limit=8192, got=9000))
    with pytest.raises(ContextLengthExceededError) as info:
        backend.complete(req())
    assert (info.value.limit, info.value.requested) == (8192, 9000)


def test_models_lists_ids(server, backend):
    assert backend.models() == sorted(server.models)


def test_async_backend_matches_sync(server):
    server.script(Reply("async works fine"), Fault.cut_after(2, content="one two three four"))

    async def go():
        b = AsyncRemoteBackend(server.url, FAKE_KEY)
        try:
            resp = await b.complete(req())
            parts = []
            with pytest.raises(StreamInterrupted) as info:
                async for d in b.stream(req()):
                    parts.append(d.content)
            return resp, "".join(parts), info.value
        finally:
            await b.aclose()

    resp, partial, exc = asyncio.run(go())
    assert resp.content == "async works fine"
    assert exc.partial == partial and partial
