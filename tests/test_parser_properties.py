"""Property-based tests of the wire's one parser and of the stream decoder: random JSON,
and mutations of valid answers (fields dropped, retyped, nested, surrogates put in), give
either a valid result or the one error class, `ResponseFormatError` (inside a
`StreamInterrupted` for a stream), never anything else."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talkline.errors import APIError, ResponseFormatError, StreamInterrupted
from talkline.types import ChatDelta, ChatResponse
from talkline.wire.decode import StreamDecoder
from talkline.wire.jsonload import MAX_DEPTH, TooDeep, depth, loads
from talkline.wire.parse import parse_batch_object, parse_chat_response, parse_chunk, parse_models

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["\ud800", "a\udfffb", "assistant", "stop", ""]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)

VALID = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "Hi", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "f", "arguments": "{}"}}]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
              "prompt_tokens_details": {"cached_tokens": 1},
              "completion_tokens_details": {"reasoning_tokens": 0}},
}
VALID_CHUNK = {
    "id": "c1", "object": "chat.completion.chunk", "model": "m",
    "choices": [{"index": 0, "finish_reason": None, "delta": {
        "role": "assistant", "content": "Hi", "tool_calls": [
            {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{"}}]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """`valid` with a few random fields dropped, replaced by random JSON, or nested."""
    data: Any = copy.deepcopy(valid)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        how = draw(st.sampled_from(["drop", "retype", "nest"]))
        if how == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif how == "nest":
            parent[path[-1]] = [parent[path[-1]]]
        else:
            parent[path[-1]] = draw(json_values)
    return data


def _check_response(data: Any) -> None:
    try:
        response = parse_chat_response(data)
    except ResponseFormatError as exc:
        assert exc.message.startswith("the server's answer has ")
        return
    assert isinstance(response, ChatResponse) and response.choices
    stored = json.dumps(response.to_dict(), ensure_ascii=False).encode("utf-8")  # storable
    assert stored
    assert isinstance(response.content, str)
    if response.usage is not None:
        assert 0 <= response.usage.prompt_tokens <= 10**9


def _check_chunk(data: Any) -> None:
    try:
        deltas = parse_chunk(data)
    except ResponseFormatError as exc:
        assert exc.message.startswith("the server's answer has ")
        return
    for delta in deltas:
        assert isinstance(delta, ChatDelta)
        assert isinstance(delta.content, str)
        delta.content.encode("utf-8")


def test_the_valid_answers_parse() -> None:
    response = parse_chat_response(VALID)
    assert response.content == "Hi" and response.usage is not None
    assert response.usage.cached_tokens == 1
    assert response.message.tool_calls[0].name == "f"
    deltas = parse_chunk(VALID_CHUNK)
    assert deltas[0].content == "Hi" and deltas[0].tool_calls[0].arguments == "{"
    assert deltas[-1].usage is not None and deltas[-1].usage.total_tokens == 5


@SETTINGS
@given(json_values)
def test_random_json_is_an_answer_or_the_one_error(data: Any) -> None:
    _check_response(data)
    _check_chunk(data)
    for parse in (parse_models, parse_batch_object):
        try:
            parse(data)
        except ResponseFormatError:
            pass


@SETTINGS
@given(mutated(VALID))
def test_a_mutated_answer_is_an_answer_or_the_one_error(data: Any) -> None:
    _check_response(data)


@SETTINGS
@given(mutated(VALID_CHUNK))
def test_a_mutated_chunk_is_deltas_or_the_one_error(data: Any) -> None:
    _check_chunk(data)


@SETTINGS
@given(st.lists(st.one_of(mutated(VALID_CHUNK), json_values), max_size=5),
       st.integers(min_value=1, max_value=40), st.booleans())
def test_the_stream_decoder_on_random_events_never_breaks(chunks: list[Any], cut: int,
                                                          done: bool) -> None:
    """Random events, fed in random slices: deltas, then StreamInterrupted or an APIError
    (from an error event or a body that is no stream), nothing else."""
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    text += "data: [DONE]\n\n" if done else ""
    decoder = StreamDecoder()
    try:
        for start in range(0, len(text), cut):
            for delta in decoder.feed(text[start:start + cut]):
                delta.content.encode("utf-8")
            decoder.check()
        decoder.finish()
    except StreamInterrupted as exc:
        assert exc.cause is None or isinstance(exc.cause, APIError)
    except APIError:
        pass


@SETTINGS
@given(st.text(max_size=200), st.sampled_from(["", "text/plain", "application/json",
                                               "text/html", "text/event-stream"]))
def test_the_stream_decoder_on_random_bodies_never_breaks(body: str, ctype: str) -> None:
    decoder = StreamDecoder(content_type=ctype)
    try:
        decoder.feed(body)
        decoder.check()
        decoder.finish()
    except (StreamInterrupted, APIError):
        pass


@SETTINGS
@given(st.integers(min_value=0, max_value=3 * MAX_DEPTH), st.sampled_from(["[", '{"a":']))
def test_json_depth_is_bounded_before_parsing(levels: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * levels + "1" + closer * levels
    if levels > MAX_DEPTH:
        try:
            loads(text)
        except TooDeep:
            return
        raise AssertionError("too deep, yet parsed")
    assert depth(text) == levels
    loads(text)


def test_brackets_inside_strings_are_not_nesting() -> None:
    assert depth(json.dumps({"a": "[[[[{{{{" * 100, "b": ['\\"[']})) == 2
    assert depth('["[[[[", "\\\\", "]]"]') == 1


def test_100000_deep_is_refused_in_linear_time() -> None:
    import time

    start = time.monotonic()
    try:
        loads("[" * 100_000 + "]" * 100_000)
    except TooDeep as exc:
        assert "more than 200 levels" in str(exc)
    else:
        raise AssertionError("parsed")
    assert time.monotonic() - start < 1.0
