"""The repeated-line stop of the embedded model: the pure guard, and its wiring in the
local backend's stream (against a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from talkline.backends.base import ChatRequest
from talkline.backends.local import backend as L
from talkline.backends.local.repeat_guard import RepeatGuard
from talkline.backends.local.server import LocalServer
from talkline.testing import Reply
from talkline.types import ChatParams, Message

LINE = "The dragon baked bread all day long."  # >= 20 characters


def run(pieces: list[str], **kw: int) -> tuple[str, bool]:
    guard = RepeatGuard(**kw)
    out = "".join(guard.feed(p) for p in pieces)
    return out + guard.finish(), guard.stopped


def test_third_repeat_stops_and_keeps_the_first() -> None:
    text, stopped = run(["Intro.\n", LINE + "\n", LINE + "\n", LINE + "\n", "never shown\n"])
    assert stopped
    assert text == f"Intro.\n{LINE}\n"


def test_blank_lines_between_repeats_do_not_hide_them() -> None:
    text, stopped = run([f"{LINE}\n\n{LINE}\n\n{LINE}\nmore"])
    assert stopped and text == f"{LINE}\n\n"


def test_two_repeats_are_kept() -> None:
    text, stopped = run([f"{LINE}\n{LINE}\nSomething else.\n"])
    assert not stopped and text == f"{LINE}\n{LINE}\nSomething else.\n"


def test_short_lines_may_repeat() -> None:
    text, stopped = run(["- yes\n"] * 10)
    assert not stopped and text == "- yes\n" * 10


def test_not_in_a_row_is_not_a_loop() -> None:
    pieces = [f"{LINE}\n", "Other line here, long enough.\n"] * 4
    text, stopped = run(pieces)
    assert not stopped and text == "".join(pieces)


def test_repeats_are_never_shown_before_the_stop() -> None:
    guard = RepeatGuard()
    shown = ""
    for ch in f"{LINE}\n{LINE}\n{LINE}\n":  # one character at a time, like a token stream
        shown += guard.feed(ch)
    assert guard.stopped and shown == f"{LINE}\n"


def test_text_is_shown_as_it_comes_when_it_cannot_be_a_repeat() -> None:
    guard = RepeatGuard()
    assert guard.feed(LINE + "\n") == LINE + "\n"
    assert guard.feed("Brand new") == "Brand new"


@given(st.lists(st.text(alphabet="ab \n", max_size=12), max_size=30))
def test_output_is_a_prefix_of_the_input_and_whole_when_not_stopped(pieces: list[str]) -> None:
    text, stopped = run(pieces, min_chars=3)
    whole = "".join(pieces)
    assert whole.startswith(text)
    if not stopped:
        assert text == whole


@given(st.text(alphabet="ab \n", max_size=200), st.integers(1, 7))
def test_chunking_does_not_change_the_result(whole: str, size: int) -> None:
    pieces = [whole[i:i + size] for i in range(0, len(whole), size)]
    assert run(pieces, min_chars=3) == run([whole], min_chars=3)


def _backend_on(server_url: str) -> tuple[L.LocalBackend, LocalServer]:
    fake = LocalServer(path=Path("x.gguf"), model_id="x", base_url=server_url,
                       api_key="sk-test-local", n_ctx=8192, n_ctx_train=8192,
                       load_seconds=0.0, handle=object())
    return L.LocalBackend(L.LocalModelSpec("local", Path("x.gguf"))), fake


def _request(**params: object) -> list[ChatRequest]:
    req = ChatRequest(messages=(Message("user", "What is my name?"),),
                      params=ChatParams(model="local", **params))  # type: ignore[arg-type]
    return L.choice_requests(req, "x", L.DEFAULT_SYSTEM_PROMPT)


def test_the_local_stream_stops_a_loop_with_finish_stop(server) -> None:  # type: ignore[no-untyped-def]
    server.script(Reply("I do not know your name.\n" + (LINE + "\n") * 40, chunk_size=5))
    backend, fake = _backend_on(server.url)
    deltas = list(backend._generate(fake, _request(), True))
    text = "".join(d.content for d in deltas)
    assert text == f"I do not know your name.\n{LINE}\n"
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens > 0
    body = server.chat_requests[-1].body
    assert body["max_tokens"] == L.DEFAULT_MAX_TOKENS
    assert body["repeat_penalty"] == L.DEFAULT_REPEAT_PENALTY
    assert body["messages"][0] == {"role": "system", "content": L.DEFAULT_SYSTEM_PROMPT}
    backend.close()


def test_no_guard_under_a_json_schema(server) -> None:  # type: ignore[no-untyped-def]
    server.script(Reply((LINE + "\n") * 5))
    backend, fake = _backend_on(server.url)
    reqs = _request(response_format={"type": "json_object"})
    deltas = list(backend._generate(fake, reqs, L.guarded(reqs[0])))
    assert "".join(d.content for d in deltas) == (LINE + "\n") * 5
    backend.close()


def test_users_own_settings_win(server) -> None:  # type: ignore[no-untyped-def]
    server.script(Reply("ok"))
    backend, fake = _backend_on(server.url)
    list(backend._generate(fake, _request(max_tokens=9, temperature=1.0,
                                          extra_body={"repeat_penalty": 1.3}), True))
    body = server.chat_requests[-1].body
    assert (body["max_tokens"], body["temperature"], body["repeat_penalty"]) == (9, 1.0, 1.3)
    backend.close()
