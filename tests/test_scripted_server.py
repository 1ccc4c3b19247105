"""The scripted OpenAI-compatible server, checked against the official OpenAPI schemas."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from openapi_schema import validate
from talkline.testing import Error, Fault, Reply, ScriptedServer, go_duration

MSGS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello to the world"},
]


def body(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MSGS}
    out.update(kw)
    return out


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as c:
        yield c


def parse_sse(raw: bytes) -> list[str]:
    """A spec-following SSE parser: LF / CRLF / CR line ends, comments, multi-line data."""
    events: list[str] = []
    data: list[str] = []
    for line in re.split(r"\r\n|\r|\n", raw.decode("utf-8")):
        if line == "":
            if data:
                events.append("\n".join(data))
            data = []
        elif line.startswith(":"):
            continue
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        events.append("\n".join(data))
    return events


def stream(client: httpx.Client, **kw: Any) -> tuple[httpx.Response, list[str]]:
    with client.stream("POST", "/chat/completions", json=body(stream=True, **kw)) as r:
        raw = r.read()
    return r, parse_sse(raw)


def chunks_of(events: list[str]) -> list[dict[str, Any]]:
    out = [json.loads(e) for e in events if e != "[DONE]"]
    for c in out:
        if "error" not in c:
            validate("CreateChatCompletionStreamResponse", c)
    return out


def text_of(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        ch["delta"].get("content") or ""
        for c in chunks
        for ch in c.get("choices", [])
        if ch["index"] == index
    )


def assert_error(r: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    assert r.status_code == status
    assert r.headers["x-request-id"].startswith("req_")
    payload = r.json()
    validate("ErrorResponse", payload)
    assert payload["error"]["code"] == code
    return payload["error"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------- non-streamed


def test_default_reply_echoes_last_user_message(client: httpx.Client) -> None:
    r = client.post("/chat/completions", json=body())
    assert r.status_code == 200
    assert r.headers["x-request-id"].startswith("req_")
    obj = r.json()
    validate("CreateChatCompletionResponse", obj)
    assert obj["object"] == "chat.completion"
    assert obj["id"].startswith("chatcmpl-")
    assert obj["model"] == "gpt-4o-mini"
    msg = obj["choices"][0]["message"]
    assert msg == {
        "role": "assistant",
        "content": "Echo: Say hello to the world",
        "refusal": None,
        "annotations": [],
    }
    assert obj["choices"][0]["finish_reason"] == "stop"
    assert obj["choices"][0]["logprobs"] is None
    # prompt: (2 + 4) + (5 + 4) words; completion: 6 words
    usage = obj["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        15,
        6,
        21,
    )
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


def test_scripted_replies_in_order_then_default(
    server: ScriptedServer, client: httpx.Client
) -> None:
    server.script(Reply("one"), Reply("two", finish_reason="length", model="gpt-4o"))
    assert server.pending == 2
    r1 = client.post("/chat/completions", json=body()).json()
    r2 = client.post("/chat/completions", json=body()).json()
    r3 = client.post("/chat/completions", json=body()).json()
    for r in (r1, r2, r3):
        validate("CreateChatCompletionResponse", r)
    assert r1["choices"][0]["message"]["content"] == "one"
    assert r2["choices"][0]["message"]["content"] == "two"
    assert r2["choices"][0]["finish_reason"] == "length"
    assert r2["model"] == "gpt-4o"
    assert r3["choices"][0]["message"]["content"].startswith("Echo:")
    assert server.pending == 0


def test_default_override_and_callable(server: ScriptedServer, client: httpx.Client) -> None:
    server.default = Reply("fixed")
    assert (
        client.post("/chat/completions", json=body()).json()["choices"][0]["message"]["content"]
        == "fixed"
    )
    server.default = lambda b: Reply(f"model was {b['model']}")
    server.script(lambda b: Reply(str(len(b["messages"]))))
    first = client.post("/chat/completions", json=body()).json()
    second = client.post("/chat/completions", json=body()).json()
    assert first["choices"][0]["message"]["content"] == "2"
    assert second["choices"][0]["message"]["content"] == "model was gpt-4o-mini"


def test_n_choices_usage_dict_and_extra_fields(
    server: ScriptedServer, client: httpx.Client
) -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    server.script(
        Reply("hi", usage=usage, extra={"x_unknown": {"a": 1}}, headers={"x-test": "yes"}),
        Reply(choices=["a", "b"]),
        Reply(usage="omit"),
    )
    r = client.post("/chat/completions", json=body(n=3))
    obj = r.json()
    validate("CreateChatCompletionResponse", obj)
    assert r.headers["x-test"] == "yes"
    assert obj["x_unknown"] == {"a": 1}
    assert obj["usage"] == usage
    assert [c["index"] for c in obj["choices"]] == [0, 1, 2]
    assert [c["message"]["content"] for c in obj["choices"]] == ["hi [0]", "hi [1]", "hi [2]"]
    obj = client.post("/chat/completions", json=body()).json()
    validate("CreateChatCompletionResponse", obj)
    assert [c["message"]["content"] for c in obj["choices"]] == ["a", "b"]
    obj = client.post("/chat/completions", json=body()).json()
    validate("CreateChatCompletionResponse", obj)
    assert "usage" not in obj


TOOL_CALLS = [
    {
        "id": "call_abc",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "C"}'},
    },
    {"id": "call_def", "type": "function", "function": {"name": "now", "arguments": "{}"}},
]


def test_tool_calls_non_streamed(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(Reply(content=None, tool_calls=TOOL_CALLS))
    obj = client.post("/chat/completions", json=body()).json()
    validate("CreateChatCompletionResponse", obj)
    choice = obj["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == TOOL_CALLS


def test_tool_calls_streamed_in_fragments(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(Reply(content=None, tool_calls=TOOL_CALLS))
    _, events = stream(client)
    assert events[-1] == "[DONE]"
    chunks = chunks_of(events)
    calls: dict[int, dict[str, str]] = {}
    fragments = 0
    for c in chunks:
        for tc in c["choices"][0]["delta"].get("tool_calls", []):
            slot = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
            slot["id"] += tc.get("id", "")
            slot["name"] += tc.get("function", {}).get("name", "")
            slot["arguments"] += tc.get("function", {}).get("arguments", "")
            fragments += 1
    assert fragments > 4  # arguments really are split
    assert calls[0] == {
        "id": "call_abc",
        "name": "get_weather",
        "arguments": '{"city": "Paris", "unit": "C"}',
    }
    assert calls[1] == {"id": "call_def", "name": "now", "arguments": "{}"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


# ---------------------------------------------------------------- streamed


def test_stream_chunks_match_schema_and_text_is_exact(
    server: ScriptedServer, client: httpx.Client
) -> None:
    text = "Héllo,  wörld!\n\tThis is   spaced out. 🎉 "
    server.script(Reply(text))
    r, events = stream(client, stream_options={"include_usage": True})
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.headers["x-request-id"].startswith("req_")
    assert events[-1] == "[DONE]"
    chunks = chunks_of(events)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert text_of(chunks) == text
    assert len(chunks) > 6
    finish = chunks[-2]
    assert finish["choices"][0]["delta"] == {}
    assert finish["choices"][0]["finish_reason"] == "stop"
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == len(text.split())
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_chunk(client: httpx.Client) -> None:
    _, events = stream(client)
    chunks = chunks_of(events)
    assert events[-1] == "[DONE]"
    assert all(c["choices"] for c in chunks)
    assert all(c["usage"] is None for c in chunks)
    assert text_of(chunks) == "Echo: Say hello to the world"


def test_stream_chunk_size(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(Reply("abcdefghij", chunk_size=3))
    chunks = chunks_of(stream(client)[1])
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert pieces == ["abc", "def", "ghi", "j"]


def test_stream_chunk_delay_spaces_the_content_chunks(
    server: ScriptedServer, client: httpx.Client
) -> None:
    server.script(Reply("abcdefghij", chunk_size=3, chunk_delay=0.15))
    arrivals: list[float] = []
    started = time.monotonic()
    with client.stream("POST", "/chat/completions", json=body(stream=True)) as r:
        for line in r.iter_lines():
            if '"content": "' in line or '"content":"' in line:
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 5  # the role chunk's "" and four pieces
    # Each of the four pieces waited its turn, so the i-th cannot arrive before i delays
    # have passed (a busy reader may see several at once, never one early).
    for i, arrival in enumerate(arrivals[1:], start=1):
        assert arrival >= 0.15 * i - 0.01, arrivals


def test_stream_n_choices_interleaved(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(Reply("one two three"))
    chunks = chunks_of(stream(client, n=2, stream_options={"include_usage": True})[1])
    order = [c["choices"][0]["index"] for c in chunks if c["choices"]]
    assert order[:4] == [0, 1, 0, 1]
    assert text_of(chunks, 0) == "one two three [0]"
    assert text_of(chunks, 1) == "one two three [1]"
    finishes = [
        c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert sorted(f["index"] for f in finishes) == [0, 1]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_sse_line_endings_comments_and_multiline_data(
    server: ScriptedServer, client: httpx.Client, ending: str
) -> None:
    server.sse_line_ending = ending
    server.script(Reply("a b c", comments=True, multiline_data=True))
    with client.stream("POST", "/chat/completions", json=body(stream=True)) as r:
        raw = r.read()
    text = raw.decode()
    assert ": keep-alive" + ending in text
    others = {"\n", "\r\n", "\r"} - {ending}
    if ending == "\n":
        assert "\r" not in text
    elif ending == "\r":
        assert "\n" not in text
    else:
        assert all(o not in text.replace("\r\n", "") for o in others)
    events = parse_sse(raw)
    assert events[-1] == "[DONE]"
    assert all("\n" in e for e in events[:-1])  # every JSON event spans two data lines
    assert text_of(chunks_of(events)) == "a b c"


# ---------------------------------------------------------------- errors


def test_error_constructors_match_schema(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(
        Error(),
        Error.quota(),
        Error.context_length(),
        Error.invalid_key(),
        Error.not_found_model("gpt-9"),
        Error(status=418, message="teapot", type="invalid_request_error", code="tea", param="x"),
    )
    err = assert_error(client.post("/chat/completions", json=body()), 500, None)
    assert err["type"] == "server_error"
    err = assert_error(client.post("/chat/completions", json=body()), 429, "insufficient_quota")
    assert err["message"] == (
        "You exceeded your current quota, please check your plan and billing details."
    )
    err = assert_error(
        client.post("/chat/completions", json=body()), 400, "context_length_exceeded"
    )
    assert err["param"] == "messages"
    assert err["message"] == (
        "This model's maximum context length is 128000 tokens. However, your messages resulted "
        "in 130000 tokens. Please reduce the length of the messages."
    )
    err = assert_error(client.post("/chat/completions", json=body()), 401, "invalid_api_key")
    assert err["message"].startswith("Incorrect API key provided: sk-fak***...1234.")
    err = assert_error(client.post("/chat/completions", json=body()), 404, "model_not_found")
    assert err["type"] == "invalid_request_error"
    assert err["message"] == "The model `gpt-9` does not exist or you do not have access to it."
    err = assert_error(client.post("/chat/completions", json=body()), 418, "tea")
    assert err["param"] == "x"
    assert server.stats == {"requests": 6, "ok": 0, "429": 1, "errors": 5, "faults": 0}


def test_rate_limit_error_headers(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(
        Error.rate_limit(retry_after=2, message_hint_seconds=1.146, should_retry=True),
        Error.rate_limit(retry_after_ms=250, should_retry=False, kind="tokens"),
        Error.rate_limit(retry_after_date=3),
    )
    r = client.post("/chat/completions", json=body())
    err = assert_error(r, 429, "rate_limit_exceeded")
    assert "Please try again in 1.146s." in err["message"]
    assert err["type"] == "requests"
    assert r.headers["retry-after"] == "2"
    assert r.headers["x-should-retry"] == "true"
    r = client.post("/chat/completions", json=body())
    err = assert_error(r, 429, "rate_limit_exceeded")
    assert err["type"] == "tokens"
    assert r.headers["retry-after-ms"] == "250"
    assert r.headers["x-should-retry"] == "false"
    r = client.post("/chat/completions", json=body())
    assert_error(r, 429, "rate_limit_exceeded")
    assert r.headers["retry-after"].endswith(" GMT")
    from email.utils import parsedate_to_datetime

    delay = parsedate_to_datetime(r.headers["retry-after"]).timestamp() - time.time()
    assert 1 <= delay <= 4


def test_html_error_page(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(Error.html(), Error(503, body="upstream down", content_type="text/plain"))
    r = client.post("/chat/completions", json=body())
    assert r.status_code == 502
    assert r.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in r.text
    assert r.headers["x-request-id"].startswith("req_")
    r = client.post("/chat/completions", json=body())
    assert (r.status_code, r.text, r.headers["content-type"]) == (
        503,
        "upstream down",
        "text/plain",
    )


def test_unknown_path_bad_json_missing_fields(server: ScriptedServer, client: httpx.Client) -> None:
    err = assert_error(client.get("/nope"), 404, None)
    assert err["message"] == "Invalid URL (GET /v1/nope)"
    r = client.post(
        "/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    err = assert_error(r, 400, None)
    assert err["type"] == "invalid_request_error"
    assert "could not parse the JSON body" in err["message"]
    err = assert_error(
        client.post("/chat/completions", json={"model": "m"}), 400, "missing_required_parameter"
    )
    assert err["param"] == "messages"
    assert server.pending == 0


def test_require_key(server: ScriptedServer, client: httpx.Client) -> None:
    server.require_key = "sk-good"
    assert_error(client.post("/chat/completions", json=body()), 401, "invalid_api_key")
    r = client.post("/chat/completions", json=body(), headers={"Authorization": "Bearer sk-bad"})
    assert_error(r, 401, "invalid_api_key")
    r = client.post("/chat/completions", json=body(), headers={"Authorization": "Bearer sk-good"})
    assert r.status_code == 200
    assert server.requests[-1].headers["authorization"] == "Bearer sk-good"


def test_models_endpoint(server: ScriptedServer, client: httpx.Client) -> None:
    r = client.get("/models")
    validate("ListModelsResponse", r.json())
    assert [m["id"] for m in r.json()["data"]] == ["gpt-4o-mini", "gpt-4o"]
    server.models = ["llama3"]
    assert [m["id"] for m in client.get("/models").json()["data"]] == ["llama3"]
    validate("Model", client.get("/models/llama3").json())
    assert_error(client.get("/models/gpt-4o"), 404, "model_not_found")


# ---------------------------------------------------------------- faults


def test_cut_stream_has_no_finish_and_no_done(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(Fault.cut_after(2, content="one two three four five"))
    _, events = stream(client, stream_options={"include_usage": True})  # ends cleanly
    assert "[DONE]" not in events
    chunks = chunks_of(events)
    assert text_of(chunks) == "one two"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    # the chunked body was terminated properly: the connection is reusable
    assert client.post("/chat/completions", json=body()).status_code == 200
    assert server.stats["faults"] == 1


def test_cut_non_streamed_is_truncated(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(Fault.cut_after(1))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=body())
    assert len(server.chat_requests) == 1


@pytest.mark.parametrize("after", [None, 2])
def test_reset_is_a_transport_error(
    server: ScriptedServer, client: httpx.Client, after: int | None
) -> None:
    server.script(Fault.reset(after_chunks=after), Fault.reset(after_chunks=after))
    received: list[str] = []
    with pytest.raises(httpx.TransportError):
        with client.stream("POST", "/chat/completions", json=body(stream=True)) as r:
            for line in r.iter_lines():
                received.append(line)
    if after is not None:
        assert sum(1 for x in received if x.startswith("data:")) == 3  # role + 2
    with pytest.raises(httpx.TransportError):
        client.post("/chat/completions", json=body())
    assert len(server.chat_requests) == 2
    assert client.post("/chat/completions", json=body()).status_code == 200


def test_stall_triggers_read_timeout(server: ScriptedServer) -> None:
    server.script(Fault.stall(after_chunks=1, seconds=0.6), Fault.stall(seconds=0.4))
    with httpx.Client(base_url=server.url, timeout=httpx.Timeout(5, read=0.2)) as c:
        with pytest.raises(httpx.ReadTimeout):
            with c.stream("POST", "/chat/completions", json=body(stream=True)) as r:
                for _ in r.iter_lines():
                    pass
    with httpx.Client(base_url=server.url, timeout=5) as c:
        start = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):  # no answer at all, then closed
            c.post("/chat/completions", json=body())
        assert time.monotonic() - start >= 0.35


def test_stall_stream_ends_without_finishing(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(Fault.stall(after_chunks=1, seconds=0.2, content="alpha beta gamma"))
    start = time.monotonic()
    _, events = stream(client)
    assert time.monotonic() - start >= 0.2
    assert "[DONE]" not in events
    assert text_of(chunks_of(events)) == "alpha"


def test_stop_wakes_a_stalled_handler_quickly() -> None:
    before = threading.active_count()
    srv = ScriptedServer().start()
    srv.script(Fault.stall(after_chunks=0, seconds=30))
    outcome: list[str] = []

    def run() -> None:
        try:
            with httpx.Client(base_url=srv.url, timeout=10) as c:
                with c.stream("POST", "/chat/completions", json=body(stream=True)) as r:
                    r.read()
            outcome.append("ended")
        except httpx.HTTPError as e:
            outcome.append(type(e).__name__)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 5
    while not srv.chat_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 2
    t.join(5)
    assert not t.is_alive()
    assert outcome and outcome[0] != "ended"  # the client sees a broken stream
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() <= before
    srv.stop()  # idempotent


def test_error_event_mid_stream(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(
        Fault.error_event(after_chunks=2, status_like=429),
        Fault.error_event(status_like=500, message="boom"),
    )
    _, events = stream(client)
    assert "[DONE]" not in events
    chunks = chunks_of(events)
    assert len(chunks) == 4  # role, 2 content, error
    err = chunks[-1]
    validate("ErrorResponse", err)
    assert err["error"]["code"] == "rate_limit_exceeded"
    # not streamed: an HTTP error with the given status
    e = assert_error(client.post("/chat/completions", json=body()), 500, None)
    assert e["message"] == "boom"


def test_slow_first_byte(server: ScriptedServer, client: httpx.Client) -> None:
    server.script(
        Fault.slow_first_byte(0.3, then=Reply("late")),
        Fault.slow_first_byte(0.1, then=Error.quota()),
    )
    start = time.monotonic()
    r = client.post("/chat/completions", json=body())
    assert time.monotonic() - start >= 0.3
    assert r.json()["choices"][0]["message"]["content"] == "late"
    assert_error(client.post("/chat/completions", json=body()), 429, "insufficient_quota")


# ---------------------------------------------------------------- recording


def test_recording_and_reset(server: ScriptedServer, client: httpx.Client) -> None:
    client.get("/models", headers={"X-Custom": "1"})
    client.post("/chat/completions", json=body(), headers={"Authorization": "Bearer sk-x"})
    reqs = server.requests
    assert [(r.method, r.path) for r in reqs] == [
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
    ]
    assert reqs[0].headers["x-custom"] == "1"
    assert reqs[0].body is None and reqs[0].raw == b""
    chat = server.chat_requests
    assert len(chat) == 1
    assert chat[0].body == body()
    assert json.loads(chat[0].raw) == body()
    assert chat[0].headers["authorization"] == "Bearer sk-x"
    assert chat[0].time >= reqs[0].time
    assert reqs[0].client[1] == chat[0].client[1]  # keep-alive: same connection
    server.script(Reply("x"))
    server.reset()
    assert server.requests == [] and server.pending == 0
    assert server.stats["requests"] == 0


def test_latency(client: httpx.Client, server: ScriptedServer) -> None:
    server.latency = 0.2
    start = time.monotonic()
    client.post("/chat/completions", json=body())
    assert time.monotonic() - start >= 0.2


# ---------------------------------------------------------------- rate limits


def test_go_duration() -> None:
    assert go_duration(0) == "0s"
    assert go_duration(0.012) == "12ms"
    assert go_duration(1) == "1s"
    assert go_duration(1.146) == "1.146s"
    assert go_duration(360) == "6m0s"
    assert go_duration(3723.5) == "1h2m3.5s"


def test_rate_limit_requests_bucket() -> None:
    with ScriptedServer(rpm=60, tpm=100_000) as srv, httpx.Client(base_url=srv.url) as c:
        r = c.post("/chat/completions", json=body())
        assert r.status_code == 200
        h = r.headers
        assert h["x-ratelimit-limit-requests"] == "60"
        assert h["x-ratelimit-limit-tokens"] == "100000"
        assert int(h["x-ratelimit-remaining-requests"]) < 60
        assert 0 < int(h["x-ratelimit-remaining-tokens"]) < 100_000
        assert re.fullmatch(r"(\d+h)?(\d+m)?[\d.]+m?s", h["x-ratelimit-reset-requests"])
        assert re.fullmatch(r"(\d+h)?(\d+m)?[\d.]+m?s", h["x-ratelimit-reset-tokens"])
        r = c.post("/chat/completions", json=body())
        err = assert_error(r, 429, "rate_limit_exceeded")
        assert err["type"] == "requests"
        assert "requests per min (RPM)" in err["message"]
        assert re.search(r"Please try again in [\dhms.]+\.", err["message"])
        assert 900 <= int(r.headers["retry-after-ms"]) <= 1000
        assert "x-ratelimit-remaining-requests" in r.headers
        assert srv.stats == {"requests": 2, "ok": 1, "429": 1, "errors": 0, "faults": 0}
        assert srv.pending == 0


def test_rate_limit_tokens_bucket_and_request_too_large() -> None:
    # 6000 TPM: a bucket of 100 tokens refilled at 100/s
    with ScriptedServer(tpm=6000) as srv, httpx.Client(base_url=srv.url) as c:
        r = c.post("/chat/completions", json=body(max_completion_tokens=60))  # 15 + 60
        assert r.status_code == 200
        assert "x-ratelimit-limit-requests" not in r.headers
        r = c.post("/chat/completions", json=body(max_tokens=60))
        err = assert_error(r, 429, "rate_limit_exceeded")
        assert err["type"] == "tokens"
        assert "tokens per min (TPM)" in err["message"]
        time.sleep(int(r.headers["retry-after-ms"]) / 1000 + 0.05)
        assert c.post("/chat/completions", json=body(max_tokens=60)).status_code == 200
        r = c.post("/chat/completions", json=body(max_tokens=7000))
        err = assert_error(r, 429, "rate_limit_exceeded")
        assert err["message"].startswith("Request too large for gpt-4o-mini")


def test_rate_limit_burst_is_limited_to_about_one_second() -> None:
    # 600 RPM = a bucket of 10 requests refilled at 10/s, not 600 at once
    with (
        ScriptedServer(rpm=600) as srv,
        httpx.Client(base_url=srv.url, limits=httpx.Limits(max_connections=60), timeout=10) as c,
    ):
        start = time.monotonic()
        with ThreadPoolExecutor(60) as pool:
            codes = list(
                pool.map(lambda _: c.post("/chat/completions", json=body()).status_code, range(60))
            )
        elapsed = time.monotonic() - start
        ok = codes.count(200)
        assert 10 <= ok <= 10 + 10 * elapsed + 1, (ok, elapsed)
        assert codes.count(429) == 60 - ok
        stats = srv.stats
        assert stats["ok"] == ok and stats["429"] == 60 - ok and stats["requests"] == 60


def test_many_concurrent_connections() -> None:
    """500 connections open at once, each with a request in flight."""
    payload = json.dumps(body()).encode()
    with ScriptedServer(latency=0.3) as srv:
        srv.script(*[Reply(f"r{i}") for i in range(500)])
        barrier = threading.Barrier(500, timeout=20)

        def one(_: int) -> tuple[int, str]:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
            try:
                conn.connect()
                barrier.wait()
                conn.request("POST", "/v1/chat/completions", payload, {"Content-Type": "json"})
                resp = conn.getresponse()
                obj = json.loads(resp.read())
                return resp.status, obj["choices"][0]["message"]["content"]
            finally:
                conn.close()

        start = time.monotonic()
        with ThreadPoolExecutor(500) as pool:
            results = list(pool.map(one, range(500)))
        assert time.monotonic() - start < 10
        assert all(status == 200 for status, _ in results)
        assert {content for _, content in results} == {f"r{i}" for i in range(500)}
        assert len(srv.chat_requests) == 500
        assert srv.stats["ok"] == 500


# ---------------------------------------------------------------- batch API


def _upload(c: httpx.Client, lines: list[dict[str, Any]]) -> dict[str, Any]:
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    r = c.post("/files", data={"purpose": "batch"}, files={"file": ("in.jsonl", data)})
    assert r.status_code == 200, r.text
    obj: dict[str, Any] = r.json()
    validate("OpenAIFile", obj)
    assert obj["bytes"] == len(data) and obj["filename"] == "in.jsonl"
    assert c.get(f"/files/{obj['id']}/content").content == data
    return obj


def _line(cid: str, model: str = "gpt-4o-mini", text: str = "hi") -> dict[str, Any]:
    return {
        "custom_id": cid,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": text}]},
    }


def test_batch_flow(server: ScriptedServer, client: httpx.Client) -> None:
    lines = [_line(f"req-{i}", text=f"question {i}") for i in range(6)]
    lines.append(_line("bad-model", model="fail"))
    server.script(Reply("scripted first"), Error(status=500))
    f = _upload(client, lines)
    validate("OpenAIFile", client.get(f"/files/{f['id']}").json())
    r = client.post(
        "/batches",
        json={
            "input_file_id": f["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
    )
    batch = r.json()
    validate("Batch", batch)
    assert batch["status"] == "validating"
    assert batch["request_counts"] == {"total": 7, "completed": 0, "failed": 0}
    seen = [batch["status"]]
    while batch["status"] not in ("completed", "failed"):
        batch = client.get(f"/batches/{batch['id']}").json()
        validate("Batch", batch)
        seen.append(batch["status"])
    assert seen == ["validating", "in_progress", "finalizing", "completed"]
    assert batch["request_counts"] == {"total": 7, "completed": 5, "failed": 2}
    assert batch["completed_at"] >= batch["created_at"]
    out = [
        json.loads(x)
        for x in client.get(f"/files/{batch['output_file_id']}/content").text.splitlines()
    ]
    errs = [
        json.loads(x)
        for x in client.get(f"/files/{batch['error_file_id']}/content").text.splitlines()
    ]
    assert len(out) == 5 and len(errs) == 2
    by_id = {o["custom_id"]: o for o in out}
    assert (
        by_id["req-0"]["response"]["body"]["choices"][0]["message"]["content"] == "scripted first"
    )
    assert (
        by_id["req-3"]["response"]["body"]["choices"][0]["message"]["content"] == "Echo: question 3"
    )
    for o in out:
        assert o["id"].startswith("batch_req_") and o["error"] is None
        assert o["response"]["status_code"] == 200
        assert o["response"]["request_id"].startswith("req_")
        validate("CreateChatCompletionResponse", o["response"]["body"])
    assert {e["custom_id"] for e in errs} == {"req-1", "bad-model"}
    for e in errs:
        assert e["response"]["status_code"] in (400, 500)
        validate("ErrorResponse", e["response"]["body"])
    listing = client.get("/batches").json()
    validate("ListBatchesResponse", listing)
    assert [b["id"] for b in listing["data"]] == [batch["id"]]


def test_batch_cancel_and_time_based_steps(server: ScriptedServer, client: httpx.Client) -> None:
    f = _upload(client, [_line("a"), _line("b")])
    req = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    b = client.post("/batches", json=req).json()
    r = client.post(f"/batches/{b['id']}/cancel")
    validate("Batch", r.json())
    assert r.json()["status"] == "cancelling"
    assert client.get(f"/batches/{b['id']}").json()["status"] == "cancelled"
    assert_error(client.post(f"/batches/{b['id']}/cancel"), 409, None)
    assert_error(client.get("/batches/batch_nope"), 404, None)

    server.batch_step_seconds = 0.1
    b = client.post("/batches", json=req).json()
    assert client.get(f"/batches/{b['id']}").json()["status"] in ("validating", "in_progress")
    time.sleep(0.45)
    done = client.get(f"/batches/{b['id']}").json()
    validate("Batch", done)
    assert done["status"] == "completed"
    assert "error_file_id" not in done


def test_batch_rejects_too_many_lines_and_bad_requests(
    server: ScriptedServer, client: httpx.Client
) -> None:
    server.batch_max_lines = 3
    f = _upload(client, [_line(str(i)) for i in range(4)])
    req = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    b = client.post("/batches", json=req).json()
    b = client.get(f"/batches/{b['id']}").json()
    validate("Batch", b)
    assert b["status"] == "failed"
    assert b["errors"]["data"][0]["code"] == "too_many_requests"
    dup = _upload(client, [_line("same"), _line("same")])
    b = client.post("/batches", json={**req, "input_file_id": dup["id"]}).json()
    b = client.get(f"/batches/{b['id']}").json()
    assert b["status"] == "failed"
    assert b["errors"]["data"][0]["code"] == "duplicate_custom_id"
    assert b["errors"]["data"][0]["line"] == 2
    assert_error(client.post("/batches", json={**req, "completion_window": "1h"}), 400, None)
    assert_error(client.post("/batches", json={**req, "input_file_id": "file-x"}), 400, None)
    assert_error(client.get("/files/file-x"), 404, None)


# ---------------------------------------------------------------- standalone


def test_module_main_runs_until_sigterm() -> None:
    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, PYTHONPATH=str(src) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "talkline.testing",
            "--port",
            "0",
            "--rpm",
            "3000",
            "--tpm",
            "1000000",
            "--latency",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url), url
        with httpx.Client(base_url=url, timeout=5) as c:
            r = c.post("/chat/completions", json=body())
            assert r.json()["choices"][0]["message"]["content"] == "Echo: Say hello to the world"
            assert r.headers["x-ratelimit-limit-requests"] == "3000"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream_ in (proc.stdout, proc.stderr):
            if stream_ is not None:
                stream_.close()
