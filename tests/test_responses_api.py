"""The Responses API dialect against the scripted server: what is sent (validated against
the official `CreateResponse` schema), what comes back (every event the server sent
validated against `ResponseStreamEvent`, whole answers against `Response`), and the pure
request mapping and event decoder."""

from __future__ import annotations

import json

import pytest

from openapi_schema import validate
from talkline import Client, ParamError
from talkline.errors import NotFoundError, StreamInterrupted
from talkline.settings import Settings
from talkline.testing import Error, Fault, Reply
from talkline.testing._responses_api import response_object
from talkline.types import ChatParams, Message, ToolCall
from talkline.wire.responses_decode import ResponsesDecoder
from talkline.wire.responses_map import responses_body

KEY = "sk-test-responses-1234"


def client(server, retries: int = 0, **changes) -> Client:
    settings = Settings.resolve(api_key=KEY, base_url=server.url, retries=retries)
    return Client(settings=settings.replace(api="responses", **changes))


def sent(server) -> list[dict]:
    bodies = [r.body for r in server.responses_requests]
    for body in bodies:
        validate("CreateResponse", body)
    for event in server.sent_events:
        validate("ResponseStreamEvent", event)
    assert server.chat_requests == [r for r in server.chat_requests
                                    if r.route.endswith("/chat/completions")]
    return bodies


def test_a_streamed_answer_comes_through_as_deltas(server):
    server.script(Reply("Paris is the capital.", reasoning="The user asks about France."))
    with client(server) as c:
        deltas = list(c.stream([Message("system", "Be brief."),
                                Message("user", "Capital of France?")]))
    text = "".join(d.content for d in deltas)
    assert text == "Paris is the capital."
    reasoning = "".join(d.reasoning for d in deltas)
    assert reasoning == "The user asks about France."
    assert "France" not in text  # the reasoning never reaches the content
    (body,) = sent(server)
    assert body["instructions"] == "Be brief."
    assert body["input"] == [{"role": "user", "content": "Capital of France?"}]
    assert body["stream"] is True and body["store"] is False
    types = [e["type"] for e in server.sent_events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert [e["sequence_number"] for e in server.sent_events] == list(range(len(types)))
    assert not server.chat_requests


def test_a_whole_answer_carries_reasoning_items_and_usage(server):
    server.script(Reply("42", reasoning="Thinking hard.", encrypted_reasoning="gAAAA-secret",
                        usage={"input_tokens": 100, "output_tokens": 50,
                               "input_tokens_details": {"cached_tokens": 40,
                                                        "cache_write_tokens": 0},
                               "output_tokens_details": {"reasoning_tokens": 30},
                               "total_tokens": 150}))
    with client(server) as c:
        resp = c.complete("Answer?", reasoning_effort="high")
    assert resp.content == "42" and resp.finish_reason == "stop"
    assert resp.message.reasoning == "Thinking hard."
    (item,) = resp.message.reasoning_items
    assert item["encrypted_content"] == "gAAAA-secret" and item["type"] == "reasoning"
    assert resp.message.response_id == resp.id and resp.id.startswith("resp_")
    u = resp.usage
    assert (u.prompt_tokens, u.completion_tokens, u.cached_tokens, u.reasoning_tokens) == (
        100, 50, 40, 30)
    (body,) = sent(server)
    assert body["reasoning"] == {"summary": "auto", "effort": "high"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert "stream" not in body
    assert "reasoning" not in resp.message.to_dict() and "42" == resp.message.to_dict()[
        "content"]


def test_every_response_object_the_server_renders_matches_the_schema():
    for reply in (Reply("hi"), Reply("cut", finish_reason="length"),
                  Reply(None, tool_calls=[{"id": "c1", "type": "function",
                                           "function": {"name": "f", "arguments": "{}"}}]),
                  Reply("x", reasoning="why", usage="omit")):
        validate("Response", response_object(reply, {"model": "m"}, "m"))


def test_a_cut_stream_is_retried_and_the_final_answer_is_whole(server):
    server.script(Fault.cut_after(3), Reply("The whole answer."))
    with client(server, retries=2) as c:
        deltas = list(c.stream("Go"))
    assert any(d.restart for d in deltas)
    after = deltas[max(i for i, d in enumerate(deltas) if d.restart) + 1:]
    assert "".join(d.content for d in after) == "The whole answer."
    assert len(sent(server)) == 2


def test_a_cut_stream_with_no_retries_left_is_never_complete(server):
    server.script(Fault.cut_after(2))
    with client(server) as c, pytest.raises(StreamInterrupted) as info:
        list(c.stream("Go"))
    assert "without response.completed" in info.value.message
    assert info.value.partial  # what came is kept, marked as interrupted


def test_an_error_event_is_the_api_error_and_a_server_error_is_retried(server):
    server.script(Fault.error_event(after_chunks=1), Reply("Second try."))
    with client(server, retries=1) as c:
        deltas = list(c.stream("Go"))
    assert "".join(d.content for d in deltas).endswith("Second try.")
    assert len(sent(server)) == 2


def test_incomplete_for_max_output_tokens_is_length(server):
    server.script(Reply("Half an ans", finish_reason="length"))
    with client(server) as c:
        deltas = list(c.stream("Go", max_tokens=20))
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["length"]
    assert server.sent_events[-1]["response"]["incomplete_details"] == {
        "reason": "max_output_tokens"}
    assert sent(server)[0]["max_output_tokens"] == 20


def test_max_tokens_below_the_apis_least_is_refused_with_the_fix():
    with pytest.raises(ParamError) as info:
        responses_body([Message("user", "q")], ChatParams(model="m", max_tokens=5),
                       stream=False)
    assert "--max-tokens 16 or more" in info.value.message


def test_a_function_tool_round_trip(server):
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    server.script(Reply(None, reasoning="Need the weather.", tool_calls=[
        {"id": "call_7", "type": "function",
         "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}}]),
        Reply("It is sunny in Paris."))
    with client(server) as c:
        resp = c.complete("Weather in Paris?", tools=[get_weather], reasoning_effort="low")
    assert resp.content == "It is sunny in Paris."
    call_msg = resp.tool_messages[0]
    assert call_msg.tool_calls == (ToolCall("call_7", "get_weather", '{"city": "Paris"}'),)
    first, second = sent(server)
    assert first["tools"] == [{"type": "function", "name": "get_weather",
                               "description": "The weather in a city.",
                               "parameters": first["tools"][0]["parameters"],
                               "strict": first["tools"][0]["strict"]}]
    kinds = [i.get("type", "message") for i in second["input"]]
    assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
    assert second["input"][2]["call_id"] == "call_7"
    assert second["input"][3] == {"type": "function_call_output", "call_id": "call_7",
                                  "output": "sunny in Paris"}


def test_a_streamed_tool_call_is_joined_from_its_argument_deltas(server):
    args = json.dumps({"city": "Lyon", "days": 3})
    server.script(Reply(None, chunk_size=4, tool_calls=[
        {"id": "call_9", "type": "function",
         "function": {"name": "forecast", "arguments": args}}]))
    with client(server) as c:
        deltas = list(c.stream("Forecast"))
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["tool_calls"]
    joined = "".join(t.arguments for d in deltas for t in d.tool_calls)
    assert joined == args
    assert sent(server)


def test_a_server_without_the_responses_api_gets_the_fix_named(server):
    server.responses_api = False
    with client(server) as c, pytest.raises(NotFoundError) as info:
        c.complete("Hi")
    assert info.value.message == (
        f"this server has no Responses API (POST {server.url}/responses answered 404); "
        "use --api chat")


def test_a_model_not_found_stays_a_model_error(server):
    server.script(Error.not_found_model("o3-pro"))
    with client(server) as c, pytest.raises(NotFoundError) as info:
        c.complete("Hi", model="o3-pro")
    assert "Responses API" not in info.value.message


def test_server_state_sends_previous_response_id_and_only_the_new_input(server):
    history = [Message("system", "Terse."), Message("user", "First?"),
               Message("assistant", "One.", response_id="resp_abc"),
               Message("user", "Second?")]
    server.script(Reply("Two."))
    with client(server, server_state=True) as c:
        c.complete(history)
    (body,) = sent(server)
    assert body["previous_response_id"] == "resp_abc"
    assert body["store"] is True and "include" not in body
    assert body["input"] == [{"role": "user", "content": "Second?"}]
    assert body["instructions"] == "Terse."


def test_a_forgotten_previous_response_says_drop_server_state(server):
    server.script(Error(400, "Previous response with id 'resp_abc' not found.",
                        "invalid_request_error", "previous_response_not_found",
                        "previous_response_id"))
    history = [Message("user", "a"), Message("assistant", "b", response_id="resp_abc"),
               Message("user", "c")]
    with client(server, server_state=True) as c, pytest.raises(Exception) as info:
        c.complete(history)
    assert "run again without --server-state" in str(info.value)


def test_reasoning_items_go_back_before_their_message():
    items = ({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gA"},)
    body = responses_body([Message("user", "q"),
                           Message("assistant", "a", reasoning_items=items,
                                   reasoning="not sent"),
                           Message("user", "q2")], ChatParams(model="o3"), stream=False)
    assert body["input"] == [{"role": "user", "content": "q"}, dict(items[0]),
                             {"role": "assistant", "content": "a"},
                             {"role": "user", "content": "q2"}]
    assert "not sent" not in json.dumps(body)
    validate("CreateResponse", body)


def test_schema_and_attachments_map_to_this_apis_fields():
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "strict": True,
                                                  "schema": {"type": "object"}}}
    parts = [{"type": "text", "text": "Look"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
             {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA",
                                       "filename": "a.pdf"}}]
    body = responses_body([Message("user", parts)],
                          ChatParams(model="gpt-5", response_format=fmt, max_tokens=90),
                          stream=False)
    assert body["text"] == {"format": {"type": "json_schema", "name": "person",
                                       "schema": {"type": "object"}, "strict": True}}
    assert body["max_output_tokens"] == 90
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": "Look"},
        {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "auto"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,AA",
         "filename": "a.pdf"}]


@pytest.mark.parametrize("params, named", [
    (ChatParams(n=2), "n=2"), (ChatParams(logprobs=True), "logprobs"),
    (ChatParams(stop="x"), "stop"), (ChatParams(seed=1), "seed")])
def test_chat_only_params_are_refused_naming_the_param_and_the_fix(params, named):
    with pytest.raises(ParamError) as info:
        responses_body([Message("user", "q")], params.merge(model="m"), stream=False)
    assert info.value.message.startswith(named) and "--api chat" in info.value.message


def test_audio_is_refused_on_the_responses_api():
    part = {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}
    with pytest.raises(ParamError) as info:
        responses_body([Message("user", [part])], ChatParams(model="m"), stream=False)
    assert "audio" in info.value.message and "--api chat" in info.value.message


def test_the_decoder_ignores_unknown_events_and_needs_a_terminal_one():
    decoder = ResponsesDecoder()
    decoder.feed('event: x\ndata: {"type": "response.something_new", "sequence_number": 0}'
                 '\n\ndata: {"type": "response.output_text.delta", "delta": "Hi", '
                 '"item_id": "m", "output_index": 0, "content_index": 0}\n\n')
    with pytest.raises(StreamInterrupted):
        decoder.finish()
    decoder = ResponsesDecoder()
    out = decoder.feed('data: {"type": "response.completed", "response": {"id": "r", '
                       '"status": "completed", "output": [], "usage": {"input_tokens": 1, '
                       '"output_tokens": 2}}}\n\n')
    assert decoder.done and [d.finish_reason for d in out if d.finish_reason] == ["stop"]


def test_a_wrong_shape_is_a_response_format_error():
    decoder = ResponsesDecoder()
    decoder.feed('data: {"type": "response.output_text.delta", "delta": 5}\n\n')
    with pytest.raises(StreamInterrupted) as info:
        decoder.check()
    assert "delta as a number, not a string" in info.value.message


def test_the_async_client_speaks_the_responses_api_too(server):
    import asyncio

    from talkline import AsyncClient

    server.script(Reply("Streamed async.", reasoning="hm"), Reply("Whole async."))
    settings = Settings.resolve(api_key=KEY, base_url=server.url, retries=0)

    async def main() -> tuple[str, str, str]:
        async with AsyncClient(settings=settings.replace(api="responses")) as c:
            deltas = [d async for d in c.stream("a")]
            whole = await c.complete("b")
        return ("".join(d.content for d in deltas), "".join(d.reasoning for d in deltas),
                whole.content)

    assert asyncio.run(main()) == ("Streamed async.", "hm", "Whole async.")
    assert len(sent(server)) == 2


def test_reasoning_items_are_stored_exported_imported_and_sent_back(tmp_path):
    from talkline.store import ConversationStore
    from talkline.store.export import export_text
    from talkline.store.imports import import_text

    items = [{"type": "reasoning", "id": "rs_9", "summary": [], "encrypted_content": "gAB"}]
    with ConversationStore(tmp_path / "c.db") as store:
        conv = store.create_conversation(model="o3")
        store.append_message(conv.id, "user", "q")
        store.append_message(conv.id, "assistant", "a", reasoning_items=items,
                             response_id="resp_9")
        text = export_text(store, conv.id, "json")
        again = import_text(store, text)
        for cid in (conv.id, again.id):
            answer = store.messages(cid)[-1]
            assert answer.reasoning_items == tuple(items) and answer.response_id == "resp_9"
            message = answer.to_message()
            assert message.reasoning_items == tuple(items)
            assert "reasoning_items" not in message.to_dict()
