"""The embedded model on llama.cpp's own server (xllamacpp), through the HTTP wire.

Real model, real server on 127.0.0.1, real HTTP: marked `local`. Requests use
temperature 0 where the answer is checked.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from talkline.backends.base import ChatRequest
from talkline.backends.local import backend as L
from talkline.backends.local import server as local_server
from talkline.errors import ContextLengthExceededError, NotFoundError, ParamError
from talkline.types import ChatDelta, ChatParams, Message

from .localmodel import require_model

pytestmark = pytest.mark.local
MODEL_PATH = require_model()

SYSTEM = Message("system", "You are a helpful assistant. Answer briefly and accurately.")
QUESTION = Message("user", "What is the capital of France?")
STORY = Message("user", "Write a very long story about a dragon who learns to bake bread.")


def request(*messages: Message, **params: Any) -> ChatRequest:
    params.setdefault("model", "local")
    params.setdefault("temperature", 0)
    return ChatRequest(messages=tuple(messages), params=ChatParams(**params))


@pytest.fixture(scope="module")
def backend() -> Iterator[L.LocalBackend]:
    b = L.LocalBackend()
    b.load()
    yield b
    b.close()


def test_answers_through_a_real_loopback_server(backend: L.LocalBackend) -> None:
    server = backend.load()
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    r = backend.complete(request(SYSTEM, QUESTION, max_tokens=30))
    assert "Paris" in r.content
    assert r.model == "SmolLM2-135M-Instruct.Q4_1"
    assert r.usage is not None and r.usage.prompt_tokens > 10
    assert 0 < r.usage.completion_tokens <= 30


def test_server_refuses_requests_without_its_key(backend: L.LocalBackend) -> None:
    server = backend.load()
    assert httpx.get(f"{server.base_url}/models").status_code == 401
    bad = httpx.get(f"{server.base_url}/models", headers={"Authorization": "Bearer sk-test-x"})
    assert bad.status_code == 401
    assert server.api_key not in repr(server)


def test_no_cors_grant(backend: L.LocalBackend) -> None:
    server = backend.load()
    r = httpx.options(f"{server.base_url}/chat/completions",
                      headers={"Origin": "http://evil.example",
                               "Access-Control-Request-Method": "POST"})
    assert r.headers.get("access-control-allow-origin", "") in ("", "null")


def test_one_server_per_process_per_model(backend: L.LocalBackend) -> None:
    other = L.LocalBackend()
    assert other.load() is backend.load()
    other.close()
    assert "Paris" in backend.complete(request(SYSTEM, QUESTION, max_tokens=30)).content


def test_default_system_prompt_when_none_given(backend: L.LocalBackend) -> None:
    r = backend.complete(request(QUESTION, max_tokens=30))
    assert "Paris" in r.content


def test_stream_deltas_join_to_the_answer(backend: L.LocalBackend) -> None:
    deltas = list(backend.stream(request(SYSTEM, QUESTION, max_tokens=30)))
    assert deltas[0].role == "assistant"
    text = "".join(d.content for d in deltas)
    assert "Paris" in text
    assert [d.finish_reason for d in deltas if d.finish_reason] in (["stop"], ["length"])
    assert deltas[-1].usage is not None


def test_default_cap_of_512_tokens(backend: L.LocalBackend) -> None:
    r = backend.complete(request(SYSTEM, STORY, temperature=0.8, seed=1))
    assert r.usage is not None and r.usage.completion_tokens <= L.DEFAULT_MAX_TOKENS


def test_users_max_tokens_wins(backend: L.LocalBackend) -> None:
    r = backend.complete(request(SYSTEM, STORY, max_tokens=7))
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens == 7


def test_what_is_my_name_after_a_long_conversation_ends_within_the_cap(
    backend: L.LocalBackend,
) -> None:
    history: list[Message] = [SYSTEM]
    for i in range(12):
        history.append(Message("user", f"Tell me fact number {i} about the sea."))
        history.append(Message("assistant", f"Fact {i}: the sea is deep and salty, "
                               "and it covers most of the Earth."))
    history.append(Message("user", "What is my name?"))
    r = backend.complete(request(*history, temperature=0.8, seed=3))
    assert r.usage is not None and r.usage.completion_tokens <= L.DEFAULT_MAX_TOKENS
    assert r.choices[0].finish_reason in ("stop", "length")
    assert len(r.content) < 4000


def test_stop_sequence(backend: L.LocalBackend) -> None:
    r = backend.complete(request(SYSTEM, Message("user", "Count from 1 to 10."), stop=["5"]))
    assert "5" not in r.content and "6" not in r.content


def test_n_gives_that_many_choices(backend: L.LocalBackend) -> None:
    r = backend.complete(request(SYSTEM, QUESTION, n=2, max_tokens=10, temperature=0.8,
                                 seed=5))
    assert [c.index for c in r.choices] == [0, 1]
    assert r.usage is not None and r.usage.completion_tokens <= 20


def test_too_many_choices_refused(backend: L.LocalBackend) -> None:
    with pytest.raises(ParamError, match="n <= 8"):
        backend.complete(request(QUESTION, n=9))


def test_json_schema_output_from_llama_cpp(backend: L.LocalBackend) -> None:
    import json

    schema = {"type": "object", "properties": {"city": {"type": "string"}},
              "required": ["city"]}
    r = backend.complete(request(SYSTEM, QUESTION, max_tokens=40, response_format={
        "type": "json_schema", "json_schema": {"name": "a", "schema": schema}}))
    assert isinstance(json.loads(r.content)["city"], str)


def test_unknown_model(backend: L.LocalBackend) -> None:
    with pytest.raises(NotFoundError, match="no local model named 'gpt-4o'"):
        backend.complete(request(QUESTION, model="gpt-4o"))


def test_context_window_from_the_server(backend: L.LocalBackend) -> None:
    assert backend.context_window == 8192
    assert backend.load().n_ctx_train == 8192


def test_prompt_over_the_context_window() -> None:
    small = L.LocalBackend(L.LocalModelSpec("tiny-ctx", MODEL_PATH, n_ctx=256, n_threads=1))
    assert small.context_window == 256
    with pytest.raises(ContextLengthExceededError) as info:
        small.complete(request(Message("user", "word " * 300), model="tiny-ctx"))
    assert info.value.limit == 256 and (info.value.requested or 0) > 256
    assert small.load().api_key not in str(info.value)


def test_tokenize(backend: L.LocalBackend) -> None:
    tokens = backend.tokenize("hello world")
    assert len(tokens) == 2 and all(isinstance(t, int) for t in tokens)


def test_closing_a_stream_early(backend: L.LocalBackend) -> None:
    stream = backend.stream(request(SYSTEM, STORY, max_tokens=400))
    first = next(iter(stream))
    assert first.role == "assistant"
    stream.close()  # type: ignore[attr-defined]
    assert "Paris" in backend.complete(request(SYSTEM, QUESTION, max_tokens=30)).content


def test_async_complete_and_stream() -> None:
    async def main() -> tuple[str, list[ChatDelta]]:
        b = L.AsyncLocalBackend()
        r = await b.complete(request(SYSTEM, QUESTION, max_tokens=30))
        deltas = [d async for d in b.stream(request(SYSTEM, QUESTION, max_tokens=30))]
        await b.aclose()
        return r.content, deltas

    content, deltas = asyncio.run(main())
    assert "Paris" in content
    assert "Paris" in "".join(d.content for d in deltas) and deltas[-1].usage is not None


def test_missing_model_file_names_the_fix(tmp_path: Any) -> None:
    from talkline.errors import ConfigError

    spec = L.LocalModelSpec("mine", tmp_path / "nope.gguf")
    with pytest.raises(ConfigError) as info:
        L.LocalBackend(spec).complete(request(QUESTION, model="mine"))
    assert '[models.mine] path = "/path/to/model.gguf"' in (info.value.hint or "")


def test_a_file_that_is_not_a_model_names_the_fix(tmp_path: Any) -> None:
    from talkline.errors import ConfigError

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\0" * 64)
    spec = L.LocalModelSpec("junk", junk, n_threads=1)
    with pytest.raises(ConfigError, match="Could not start the local model 'junk'") as info:
        L.LocalBackend(spec).complete(request(QUESTION, model="junk"))
    assert "complete GGUF" in (info.value.hint or "")


def test_import_is_cheap_and_needs_no_xllamacpp() -> None:
    code = ("import sys; sys.modules['xllamacpp'] = None; import talkline.backends.local.backend; "
            "print('xllamacpp' in sys.modules and sys.modules['xllamacpp'] is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_missing_xllamacpp_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from talkline.errors import ConfigError

    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(ConfigError, match=r"pip install 'talkline\[local\]'"):
        local_server._xllamacpp()


def test_a_cut_choice_is_counted_by_the_servers_template_and_tokenizer(
        backend: L.LocalBackend) -> None:
    from talkline.backends.local.requests import Choice, choice_requests, count_usage

    whole = backend.complete(request(SYSTEM, QUESTION, max_tokens=8))
    assert whole.usage is not None
    server = backend.load()
    one = choice_requests(request(SYSTEM, QUESTION, max_tokens=8), server.model_id, None)[0]
    choice = Choice(0, guarded=True)
    choice.generated = ["The capital", " of France"]
    count_usage(server, one, choice)  # /apply-template and /tokenize, through the wire
    assert choice.usage is not None
    assert choice.usage.prompt_tokens == whole.usage.prompt_tokens
    assert choice.usage.completion_tokens == len(backend.tokenize("The capital of France"))
