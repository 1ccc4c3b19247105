"""The SSE decoder and the stream decoder, pure (no network)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from talkline.errors import RateLimitError, ServerError, StreamInterrupted
from talkline.wire.chat import StreamDecoder
from talkline.wire.sse import SSEDecoder


def decode_all(chunks: list[str]) -> list[str]:
    d = SSEDecoder()
    out = []
    for c in chunks:
        out += [e.data for e in d.feed(c)]
    return out


@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"])
def test_line_endings(nl):
    text = f"data: one{nl}{nl}: a comment{nl}data: two{nl}data: lines{nl}{nl}"
    assert decode_all([text]) == ["one", "two\nlines"]


def test_crlf_split_across_chunks_is_one_line_end():
    assert decode_all(["data: a\r", "\n\r", "\ndata: b\r\n\r\n"]) == ["a", "b"]


def test_field_without_space_and_event_and_id():
    d = SSEDecoder()
    events = d.feed("event: ping\nid: 7\ndata:x\n\n")
    assert events[0].event == "ping" and events[0].id == "7" and events[0].data == "x"


def test_unterminated_event_is_reported_by_finish():
    d = SSEDecoder()
    assert d.feed("data: partial") == []
    left = d.finish()
    assert left is not None and left.data == "partial"


events = st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n",
                                                 blacklist_categories=("Cs",)), max_size=20),
                  min_size=1, max_size=5)


@given(st.lists(events, min_size=1, max_size=6), st.sampled_from(["\n", "\r\n", "\r"]),
       st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=30))
def test_any_chunking_gives_the_same_events(payloads, nl, cuts):
    text = "".join(nl.join(f"data: {line}" for line in ev) + nl + nl for ev in payloads)
    # Split the text at arbitrary points: the events must not change.
    chunks, i = [], 0
    for c in cuts:
        chunks.append(text[i:i + c])
        i += c
    chunks.append(text[i:])
    expected = ["\n".join(ev) for ev in payloads]
    got = decode_all(chunks)
    assert got == [e for e in expected if e] or got == expected


def chunk(content=None, finish=None, index=0, usage=None, role=None):
    delta = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    choices = [] if usage else [{"index": index, "delta": delta, "finish_reason": finish}]
    return "data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1,
                                  "model": "m", "choices": choices, "usage": usage}) + "\n\n"


def test_stream_decoder_complete_with_done():
    s = StreamDecoder()
    deltas = s.feed(chunk(role="assistant", content="") + chunk("Hel") + chunk("lo", "stop")
                    + chunk(usage={"prompt_tokens": 1, "completion_tokens": 2,
                                   "total_tokens": 3}) + "data: [DONE]\n\n")
    s.finish()
    assert "".join(d.content for d in deltas) == "Hello"
    assert s.acc.usage is not None and s.acc.usage.total_tokens == 3


def test_stream_decoder_finish_reason_without_done_is_complete():
    s = StreamDecoder()
    s.feed(chunk("Hi", "stop"))
    s.finish()


def test_stream_decoder_truncated():
    s = StreamDecoder()
    s.feed(chunk("Hi"))
    with pytest.raises(StreamInterrupted) as info:
        s.finish()
    assert info.value.partial == "Hi"


def test_stream_decoder_error_event_classified():
    s = StreamDecoder()
    s.feed(chunk("Hi"))
    s.feed('data: {"error": {"message": "Rate limit reached", '
           '"code": "rate_limit_exceeded", "type": "requests"}}\n\n')
    with pytest.raises(StreamInterrupted) as info:
        s.check()
    assert isinstance(info.value.cause, RateLimitError)
    s2 = StreamDecoder()
    s2.feed('data: {"error": {"message": "boom", "type": "server_error"}}\n\n')
    with pytest.raises(StreamInterrupted) as info:
        s2.finish()
    assert isinstance(info.value.cause, ServerError)


def test_stream_decoder_text_before_an_error_event_is_handed_out():
    """The text in the same read as an error event is shown before the error is raised,
    and the error counts it."""
    s = StreamDecoder()
    deltas = s.feed(chunk("Hello, w") + 'data: {"error": {"message": "boom"}}\n\n'
                    + chunk("never"))
    assert "".join(d.content for d in deltas) == "Hello, w"
    with pytest.raises(StreamInterrupted) as info:
        s.check()
    assert info.value.partial == "Hello, w"
    assert "after 8 characters" in str(info.value)
