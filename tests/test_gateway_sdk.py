"""The official `openai` SDK as a client of the real `talkline serve` (a subprocess on
127.0.0.1), with the scripted server as its upstream: a completion, a stream, the model
list, the 401, a 429 from upstream waited out by the gateway, the Responses API."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import openai
import pytest

from talkline.testing import Error, Reply

from .clihelp import run
from .gatewayhelp import CLIENT_KEY, UPSTREAM_KEY, gateway, gateway_env

_OPEN: list[openai.OpenAI] = []


def sdk(url: str, key: str = CLIENT_KEY) -> openai.OpenAI:
    """An SDK client with its own retries off: what is retried, the gateway retried."""
    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=20)
    _OPEN.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def test_a_completion_goes_upstream_with_the_upstream_key_and_is_stored(server):
    server.script(Reply("Paris is the capital.", reasoning="France: Paris"))
    with gateway(server.url, "--no-auth") as gw:
        answer = sdk(gw.url).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Capital of France?"}],
            temperature=0.2)
    assert answer.choices[0].message.content == "Paris is the capital."
    assert answer.system_fingerprint == "fp_scripted"  # the upstream's answer as it came
    assert answer.usage is not None and answer.usage.total_tokens > 0
    assert answer.choices[0].message.model_dump()["reasoning_content"] == "France: Paris"
    sent = server.chat_requests[-1]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in sent.raw.decode() and CLIENT_KEY not in json.dumps(sent.headers)
    assert sent.body["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert sent.body["temperature"] == 0.2
    assert gw.code == 0, gw.stderr
    listed = run("history", "list", env=gateway_env(None))
    assert listed.code == 0 and "Capital of France?" in listed.out, listed


def test_a_stream_is_relayed_chunk_by_chunk_with_the_upstreams_fields(server):
    server.script(Reply("one two three", reasoning="weighing it", extra={"x_vendor": 7}))
    with gateway(server.url, "--no-auth") as gw:
        chunks = list(sdk(gw.url).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "count"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    deltas = [c.choices[0].delta.model_dump() for c in chunks if c.choices]
    reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
    assert reasoning == "weighing it"  # a field the SDK does not know, relayed as it came
    assert all(c.model_dump().get("x_vendor") == 7 for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert not any(c.usage for c in chunks)  # the client did not ask for the usage chunk


def test_the_usage_chunk_comes_when_the_client_asks(server):
    with gateway(server.url, "--no-auth") as gw:
        chunks = list(sdk(gw.url).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_models_lists_the_upstreams_models_and_local(server):
    with gateway(server.url, "--no-auth") as gw:
        ids = [m.id for m in sdk(gw.url).models.list()]
    assert set(ids) == {"gpt-4o-mini", "gpt-4o", "local"}


def test_without_a_valid_gateway_key_the_sdk_gets_a_401_that_says_what_to_send(server):
    with gateway(server.url) as gw:
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk(gw.url, "sk-test-not-a-gateway-key").chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.AuthenticationError):
            sdk(gw.url).models.list()
    err = caught.value
    assert err.status_code == 401
    assert isinstance(err.body, dict) and err.body["code"] == "invalid_api_key"
    assert "talkline serve keys add NAME" in err.message
    assert "talkline serve keys add NAME" in err.message
    assert server.chat_requests == []  # nothing went upstream


def test_a_429_from_upstream_is_waited_out_by_the_gateway(server):
    server.script(Error.rate_limit(retry_after_ms=400), Reply("after the wait"))
    with gateway(server.url, "--no-auth") as gw:
        start = time.monotonic()
        answer = sdk(gw.url).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        elapsed = time.monotonic() - start
    assert answer.choices[0].message.content == "after the wait"
    assert elapsed >= 0.4  # the wait the upstream asked for, taken by the gateway
    assert len(server.chat_requests) == 2
    assert server.chat_requests[0].body == server.chat_requests[1].body


def test_a_429_the_gateway_cannot_wait_out_comes_back_with_retry_after(server):
    server.script(*[Error.rate_limit(retry_after_ms=1500)] * 3)
    with gateway(server.url, "--no-auth") as gw, pytest.raises(openai.RateLimitError) as caught:
        sdk(gw.url).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    headers = caught.value.response.headers
    assert headers["retry-after"] == "2" and headers["retry-after-ms"] == "1500"
    assert "Rate limit reached" in caught.value.message


def test_the_responses_api_is_relayed_whole_and_streamed(server):
    with gateway(server.url, "--no-auth") as gw:
        client = sdk(gw.url)
        whole = client.responses.create(model="gpt-4o-mini", input="hello there",
                                        instructions="Be brief.")
        events = list(client.responses.create(model="gpt-4o-mini", input="streamed",
                                              stream=True))
    assert whole.output_text == "Echo: hello there"
    assert [e.type for e in events][0] == "response.created"
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == \
        "Echo: streamed"
    sent = server.responses_requests[0].body
    assert sent["instructions"] == "Be brief." or sent["input"][0]["role"] in (
        "system", "developer")


def test_sigterm_stops_the_gateway_cleanly(server):
    with gateway(server.url, "--no-auth") as gw:
        pass
    assert gw.code == 0, gw.stderr
    assert "talkline serve: stopped" in gw.stderr
    assert "Traceback" not in gw.stderr


def test_a_retired_model_is_refused_by_the_gateway_before_it_goes_upstream(server):
    """Upstream OpenAI: a retired model is answered 404 model_not_found with its date and
    successor, as OpenAI would, and nothing leaves (anything sent to api.openai.com would
    go through this loopback proxy)."""
    proxy = {"HTTPS_PROXY": server.url, "https_proxy": server.url, "NO_PROXY": "",
             "no_proxy": ""}
    with gateway("https://api.openai.com/v1", "--no-auth", env=proxy) as gw:
        client = sdk(gw.url)
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(
                model="gpt-4.5-preview", messages=[{"role": "user", "content": "hi"}])
    body = caught.value.body
    assert isinstance(body, dict) and body.get("code") == "model_not_found"
    assert "gpt-4.5-preview was retired on 2025-07-14" in str(body.get("message"))
    assert "use gpt-4.1 instead" in str(body.get("message"))
    assert server.requests == []
    assert UPSTREAM_KEY not in gw.stderr


def test_the_upstream_key_sent_back_in_pieces_never_reaches_a_client(server):
    """A hostile upstream echoes the gateway's own key three characters an event: the
    relayed stream (and the whole answer) carry *** in its place."""
    server.script(Reply(f"the key is {UPSTREAM_KEY}, yes", chunk_size=3),
                  Reply(f"again {UPSTREAM_KEY}", chunk_size=2))
    with gateway(server.url, "--no-auth") as gw:
        client = sdk(gw.url)
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        whole = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    # At most a few leading characters of the key show before its rest becomes ***.
    assert re.fullmatch(r"the key is (s|sk|sk-|sk-t|sk-te)?\*\*\*, yes", text), text
    assert UPSTREAM_KEY not in text
    assert whole.choices[0].message.content == "again ***"
    assert UPSTREAM_KEY not in gw.stderr


def test_the_responses_relay_never_passes_on_a_key_sent_in_pieces(server):
    server.script(Reply(f"the key is {UPSTREAM_KEY}, yes", chunk_size=3))
    with gateway(server.url, "--no-auth") as gw:
        events = list(sdk(gw.url).responses.create(model="gpt-4o-mini", input="hi",
                                                   stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert UPSTREAM_KEY not in text
    assert re.fullmatch(r"the key is (s|sk|sk-|sk-t|sk-te)?\*\*\*, yes", text), text
    done = [e for e in events if e.type == "response.output_text.done"]
    assert done and UPSTREAM_KEY not in done[0].text
