"""Reasoning text from chat servers, at the wire: the `<think>` splitter's table, the one
parser's reasoning fields, the stream decoder, the client against the scripted server, and
the assistant message sent back (never with the reasoning)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from talkline.client import Client
from talkline.errors import ResponseFormatError
from talkline.session.conversation import ChatSession
from talkline.testing import Reply
from talkline.types import Message
from talkline.wire.decode import StreamDecoder
from talkline.wire.parse import parse_chat_response, parse_chunk
from talkline.wire.think import ThinkSplitter, split_think

KEY = "sk-test-fake-reasoning-1234"


@pytest.mark.parametrize(
    ("pieces", "reasoning", "content"),
    [
        (["<think>plan</think>Answer"], "plan", "Answer"),
        (["<think>\nplan\n</think>\n\nAnswer"], "plan\n", "Answer"),
        (["<", "thi", "nk>pl", "an</th", "ink>", "\n", "Answer"], "plan", "Answer"),
        (["  \n<think>plan</think>Answer"], "plan", "Answer"),
        (["  ", "\n", "<think>plan</think>", "Answer"], "plan", "Answer"),
        (["<think>never closed, the stream ends"], "never closed, the stream ends", ""),
        (["<think>ends on a partial tag </thi"], "ends on a partial tag </thi", ""),
        (["Answer first. <think>later</think> is text"], "",
         "Answer first. <think>later</think> is text"),
        (["Talk about ", "<think>", " tags"], "", "Talk about <think> tags"),
        (["  Hello"], "", "  Hello"),
        (["<thi", "s is not a tag"], "", "<this is not a tag"),
        (["<thi"], "", "<thi"),
        (["   "], "", "   "),
        (["<think></think>Answer"], "", "Answer"),
        (["<think>a < b and </b></think>ok"], "a < b and </b>", "ok"),
        (["<think>a</think>b <think>c</think>"], "a", "b <think>c</think>"),
    ],
)
def test_the_think_splitter(pieces: list[str], reasoning: str, content: str) -> None:
    splitter = ThinkSplitter()
    got = [splitter.feed(p) for p in pieces] + [splitter.flush()]
    assert "".join(r for r, _ in got) == reasoning
    assert "".join(c for _, c in got) == content
    assert split_think("".join(pieces)) == (reasoning, content)


def _whole(message: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_the_parser_takes_either_reasoning_field_apart_from_the_content(field: str) -> None:
    resp = parse_chat_response(_whole({"role": "assistant", "content": "42", field: "think"}))
    assert (resp.message.reasoning, resp.content) == ("think", "42")
    assert "think" not in str(resp.message.to_dict())
    deltas = parse_chunk({"id": "c1", "choices": [{"index": 0, "delta": {field: "hm"}}]})
    assert (deltas[0].reasoning, deltas[0].content) == ("hm", "")


def test_a_whole_answer_with_a_think_block_and_openrouters_details() -> None:
    resp = parse_chat_response(_whole({
        "role": "assistant", "content": "<think>plan</think>\n\nAnswer",
        "reasoning_details": [{"type": "reasoning.encrypted", "data": "opaque"}]}))
    assert (resp.message.reasoning, resp.content) == ("plan", "Answer")
    assert parse_chat_response(_whole({"role": "assistant", "content": "hi"})
                               ).message.reasoning is None


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize("where", ["message", "delta"])
def test_a_reasoning_field_of_the_wrong_type_is_a_format_error(field: str, where: str) -> None:
    with pytest.raises(ResponseFormatError) as info:
        if where == "message":
            parse_chat_response(_whole({"role": "assistant", "content": "x", field: 5}))
        else:
            parse_chunk({"choices": [{"index": 0, "delta": {field: ["x"]}}]})
    assert f"choices[0].{where}.{field}" in info.value.message
    assert "base URL" in (info.value.hint or "")


def _sse(*deltas: dict[str, Any], finish: bool = True) -> str:
    import json

    chunks = [{"id": "c", "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
              for d in deltas]
    if finish:
        chunks.append({"id": "c", "choices": [{"index": 0, "delta": {},
                                               "finish_reason": "stop"}]})
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def test_the_decoder_splits_a_think_block_across_chunks() -> None:
    decoder = StreamDecoder()
    text = _sse({"content": "\n<thi"}, {"content": "nk>step one"}, {"content": " </thi"},
                {"content": "nk>\n\nThe"}, {"content": " answer"})
    deltas = decoder.feed(text) + decoder.finish()
    assert "".join(d.reasoning for d in deltas) == "step one "
    assert "".join(d.content for d in deltas) == "The answer"
    message = decoder.acc.response().message
    assert (message.reasoning, message.text) == ("step one ", "The answer")


def test_an_unclosed_block_and_a_held_tag_are_given_at_the_end_of_the_stream() -> None:
    decoder = StreamDecoder()
    deltas = decoder.feed(_sse({"content": "<think>still going </thi"}, finish=False))
    deltas += decoder.finish()
    assert "".join(d.reasoning for d in deltas) == "still going </thi"
    assert decoder.acc.response().message.text == ""
    decoder = StreamDecoder()
    deltas = decoder.feed(_sse({"content": "<th"}, finish=False)) + decoder.finish()
    assert "".join(d.content for d in deltas) == "<th"


FORMS = [
    pytest.param(Reply("The answer.", reasoning="Let me think."), id="reasoning_content"),
    pytest.param(Reply("The answer.", reasoning="Let me think.", reasoning_field="reasoning"),
                 id="reasoning"),
    pytest.param(Reply("<think>Let me think.</think>\n\nThe answer."), id="think"),
]


@pytest.mark.parametrize("reply", FORMS)
@pytest.mark.parametrize("stream", [True, False])
def test_the_client_keeps_reasoning_apart_and_a_session_never_sends_it_back(
        server: Any, reply: Reply, stream: bool) -> None:
    server.script(reply, Reply("Second."))
    with Client(api_key=KEY, base_url=server.url) as client:
        session = ChatSession(client)
        turn = session.send("Why?", stream=stream)
        deltas = list(turn)
        assert "".join(d.content for d in deltas) == "The answer."
        assert "".join(d.reasoning for d in deltas) == "Let me think."
        assert turn.response is not None
        assert turn.response.message.reasoning == "Let me think."
        assert turn.response.content == "The answer."
        session.send("And?", stream=stream).until_done()
    sent = server.chat_requests[-1].body["messages"]
    assert sent[1] == {"role": "assistant", "content": "The answer."}
    assert "think" not in str(sent).lower()


def test_message_reasoning_is_never_in_to_dict() -> None:
    message = Message("assistant", "Answer", reasoning="thoughts")
    assert message.to_dict() == {"role": "assistant", "content": "Answer"}
    assert Message.from_dict({"role": "assistant", "content": "a", "reasoning": "r"}
                             ).reasoning == "r"


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


TOOL_FORMS = [
    pytest.param({"content": "Checking.", "reasoning": "I need the weather."},
                 id="reasoning_content"),
    pytest.param({"content": "Checking.", "reasoning": "I need the weather.",
                  "reasoning_field": "reasoning"}, id="reasoning"),
    pytest.param({"content": "<think>I need the weather.</think>Checking."}, id="think"),
]


@pytest.mark.parametrize("form", TOOL_FORMS)
@pytest.mark.parametrize("stream", [True, False])
def test_the_tool_loops_next_request_never_carries_the_reasoning(
        server: Any, form: dict[str, Any], stream: bool) -> None:
    from openapi_schema import validate

    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    server.script(Reply(tool_calls=[call], **form), Reply("Sunny."))
    with Client(api_key=KEY, base_url=server.url, retries=0) as client:
        if stream:
            s = client.stream("Weather?", tools=[get_weather])
            assert "".join(d.content for d in s) == "Checking.Sunny."
            response = s.response
        else:
            response = client.complete("Weather?", tools=[get_weather])
    assert response.content == "Sunny."
    assert response.tool_messages[0].reasoning == "I need the weather."
    second = server.chat_requests[-1].body
    validate("CreateChatCompletionRequest", second)
    assert second["messages"][1]["content"] == "Checking."
    assert "weather." not in json.dumps(second["messages"][1])


def test_the_local_backend_passes_reasoning_only_deltas_through() -> None:
    from talkline.backends.local.requests import Choice
    from talkline.types import ChatDelta

    choice = Choice(0, guarded=True)
    out = choice.take(ChatDelta(reasoning="thinking it over", model="local"))
    assert [d.reasoning for d in out] == ["thinking it over"]
    out = choice.take(ChatDelta(content="Answer", finish_reason="stop"))
    assert "".join(d.content for d in out) == "Answer"
