"""The tool loop of the library against the scripted server, asserting on the request
bodies it received (each valid by the official schema): a call and its result with the
right tool_call_id, parallel calls, streamed calls without `index`, a tool that raises,
bad arguments, the chain limit, a refusal, async tools, and conversations that store the
loop's messages."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

import pytest

from openapi_schema import validate
from talkline import AsyncClient, Client, ParamError
from talkline.client._tools import sum_usage
from talkline.store import ConversationStore
from talkline.testing import Reply
from talkline.types import ChatDelta, ToolCallDelta, Usage
from talkline.wire.accumulate import StreamAccumulator

KEY = "sk-test-fake-tools-loop"


def call(cid: str, name: str, args: dict | str) -> dict:
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": arguments}}


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def explode(reason: str) -> str:
    raise ValueError(f"cannot: {reason}")


def client(server) -> Client:
    return Client(api_key=KEY, base_url=server.url, retries=0)


def bodies(server) -> list[dict]:
    out = [r.body for r in server.chat_requests]
    for body in out:
        validate("CreateChatCompletionRequest", body)
    return out


@pytest.mark.parametrize("streamed", [False, True])
def test_a_call_is_run_its_result_sent_back_and_the_answer_returned(server, streamed):
    server.script(Reply(content=None, tool_calls=[call("call_1", "get_weather",
                                                       {"city": "Paris"})]),
                  Reply(content="It is sunny in Paris."))
    events = []
    with client(server) as c:
        if streamed:
            s = c.stream("Weather?", tools=[get_weather], on_tool=events.append)
            text = "".join(d.content for d in s)
            response = s.response
            assert text == "It is sunny in Paris."
        else:
            response = c.complete("Weather?", tools=[get_weather], on_tool=events.append)
    assert response.content == "It is sunny in Paris."
    first, second = bodies(server)
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert second["messages"][1:] == [
        {"role": "assistant", "tool_calls": [call("call_1", "get_weather",
                                                  {"city": "Paris"})]},
        {"role": "tool", "content": "sunny in Paris", "tool_call_id": "call_1"},
    ]
    assert [m.role for m in response.tool_messages] == ["assistant", "tool"]
    assert response.loop_usage is not None and response.loop_usage.total_tokens > (
        response.usage.total_tokens)
    assert response.chain_limit_reached is None
    [event] = events
    assert (event.name, event.output, event.error, event.refused) == (
        "get_weather", "sunny in Paris", None, False)
    assert event.seconds >= 0


def test_parallel_calls_run_in_order_and_each_result_names_its_call(server):
    server.script(Reply(content=None, tool_calls=[call("a1", "add", {"a": 1, "b": 2}),
                                                  call("w1", "get_weather", {"city": "Rome"})]),
                  Reply(content="3, and sunny."))
    order = []
    with client(server) as c:
        r = c.complete("Both?", tools=[add, get_weather], on_tool=lambda e: order.append(e.name))
    assert r.content == "3, and sunny." and order == ["add", "get_weather"]
    sent = bodies(server)[1]["messages"]
    assert [(m["role"], m.get("tool_call_id"), m.get("content")) for m in sent[2:]] == [
        ("tool", "a1", "3"), ("tool", "w1", "sunny in Rome")]


@pytest.mark.parametrize("numbering", ["none", "mixed"])
def test_streamed_calls_without_index_are_never_merged(server, numbering):
    server.script(Reply(content=None, tool_index=numbering,
                        tool_calls=[call("c1", "get_weather", {"city": "Paris"}),
                                    call("c2", "get_weather", {"city": "Oslo"})]),
                  Reply(content="Done."))
    with client(server) as c:
        s = c.stream("Two cities", tools=[get_weather])
        list(s)
    first, second = bodies(server)
    raw = server.chat_requests[0]
    assert raw.body["stream"] is True
    assert second["messages"][1]["tool_calls"] == [
        call("c1", "get_weather", {"city": "Paris"}), call("c2", "get_weather", {"city": "Oslo"})]
    assert [m.get("content") for m in second["messages"][2:]] == ["sunny in Paris",
                                                                  "sunny in Oslo"]


def test_accumulator_joins_by_index_then_id_and_continues_the_latest():
    acc = StreamAccumulator()
    for frags in (
        [ToolCallDelta(index=0, id="a", name="f", arguments='{"x"')],
        [ToolCallDelta(index=0, arguments=": 1}")],
        [ToolCallDelta(index=None, id="b", name="g", arguments="{}")],
        [ToolCallDelta(index=None, id="c", name="h", arguments='{"y":')],
        [ToolCallDelta(index=None, arguments=" 2}")],
        [ToolCallDelta(index=None, id="b", arguments="")],
    ):
        acc.add(ChatDelta(tool_calls=tuple(frags)))
    calls = acc.response().message.tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("a", "f", '{"x": 1}'), ("b", "g", "{}"), ("c", "h", '{"y": 2}')]


def test_a_tool_that_raises_sends_its_error_back(server):
    server.script(Reply(content=None, tool_calls=[call("e1", "explode", {"reason": "no"})]),
                  Reply(content="Sorry, it failed."))
    events = []
    with client(server) as c:
        r = c.complete("Try", tools=[explode], on_tool=events.append)
    assert r.content == "Sorry, it failed."
    tool_message = bodies(server)[1]["messages"][-1]
    assert tool_message == {"role": "tool", "content": "error: ValueError: cannot: no",
                            "tool_call_id": "e1"}
    assert events[0].error == "ValueError: cannot: no"


@pytest.mark.parametrize(("arguments", "expected"), [
    ("{not json", "error: the arguments are not valid JSON"),
    ('["a"]', "error: the arguments must be a JSON object"),
    ('{"a": "one", "b": 2}', "error: invalid arguments: 'one' is not of type 'integer'"),
    ('{"a": 1}', "error: invalid arguments: 'b' is a required property"),
])
def test_bad_arguments_go_back_to_the_model_not_a_crash(server, arguments, expected):
    server.script(Reply(content=None, tool_calls=[call("x1", "add", arguments)]),
                  Reply(content="Fixed."))
    with client(server) as c:
        assert c.complete("Add", tools=[add]).content == "Fixed."
    assert bodies(server)[1]["messages"][-1]["content"].startswith(expected)


def test_an_unknown_tool_is_told_to_the_model(server):
    server.script(Reply(content=None, tool_calls=[call("u1", "nope", {})]), Reply(content="Ok."))
    with client(server) as c:
        c.complete("Go", tools=[add])
    assert bodies(server)[1]["messages"][-1]["content"] == (
        "error: there is no tool named 'nope'; the tools are: add")


def test_the_chain_limit_stops_the_loop_and_says_so(server):
    looping = Reply(content=None, tool_calls=[call("l1", "add", {"a": 1, "b": 1})])
    server.script(looping, looping, looping)
    with client(server) as c:
        r = c.complete("Loop", tools=[add], chain_limit=2)
    assert len(server.chat_requests) == 3
    assert r.chain_limit_reached == 2 and r.finish_reason == "tool_calls"
    assert [m.role for m in r.tool_messages] == ["assistant", "tool"] * 2
    bodies(server)
    with client(server) as c, pytest.raises(ParamError, match="chain_limit must be a whole "
                                                             "number of at least 1"):
        c.complete("x", tools=[add], chain_limit=0)


def test_approve_can_refuse_and_the_model_is_told(server):
    server.script(Reply(content=None, tool_calls=[call("r1", "explode", {"reason": "x"})]),
                  Reply(content="Understood."))
    asked = []
    with client(server) as c:
        r = c.complete("Do it", tools=[explode], approve=lambda tc: asked.append(tc) or False)
    assert r.content == "Understood." and asked[0].name == "explode"
    content = bodies(server)[1]["messages"][-1]["content"]
    assert content.startswith("error: the user refused to run this call")


def test_a_tool_dict_without_a_function_hands_the_calls_back(server):
    server.script(Reply(content=None, tool_calls=[call("d1", "lookup", {})]))
    tool = {"type": "function", "function": {"name": "lookup",
                                             "parameters": {"type": "object", "properties": {}}}}
    with client(server) as c:
        r = c.complete("Look", tools=[tool])
    assert r.finish_reason == "tool_calls" and r.tool_messages == ()
    assert len(server.chat_requests) == 1


async def slow_double(n: int) -> int:
    """Double, after a pause."""
    await asyncio.sleep(0.01)
    return n * 2


def test_async_tools_are_awaited_and_sync_ones_run_in_a_thread(server):
    threads = []

    def where(x: int) -> str:
        threads.append(threading.current_thread().name)
        return "ok"

    server.script(Reply(content=None, tool_calls=[call("s1", "slow_double", {"n": 21}),
                                                  call("t1", "where", {"x": 1})]),
                  Reply(content="42."))

    async def main() -> str:
        async with AsyncClient(api_key=KEY, base_url=server.url, retries=0) as c:
            r = await c.complete("Double", tools=[slow_double, where])
            return r.content

    assert asyncio.run(main()) == "42."
    assert [m["content"] for m in bodies(server)[1]["messages"][2:]] == ["42", "ok"]
    assert threads and threads[0] != threading.main_thread().name


def test_sum_usage_adds_every_request():
    total = sum_usage([Usage(1, 2, 3), None, Usage(10, 20, 30, cached_tokens=4)])
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens,
            total.cached_tokens) == (11, 22, 33, 4)
    assert sum_usage([None]) is None


def test_a_conversation_stores_the_loop_and_sends_it_back(server, tmp_path):
    from talkline.session.conversation import ChatSession

    server.script(Reply(content=None, tool_calls=[call("c9", "get_weather", {"city": "Nice"})]),
                  Reply(content="Sunny in Nice."), Reply(content="You are welcome."))
    store = ConversationStore(tmp_path / "t.db")
    with client(server) as c:
        session = ChatSession(c, store, tools=[get_weather])
        assert session.send("Weather in Nice?").until_done().content == "Sunny in Nice."
        stored = [(m.role, m.status, m.tool_call_id) for m in session.stored_messages()]
        assert stored == [("user", "complete", None), ("assistant", "complete", None),
                          ("tool", "complete", "c9"), ("assistant", "complete", None)]
        last = session.stored_messages()[-1]
        assert last.prompt_tokens > 0 and last.content == "Sunny in Nice."
        session.send("Thanks").until_done()
    sent = bodies(server)[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[2]["tool_call_id"] == "c9"
    store.close()


def test_the_context_fitter_never_separates_a_call_from_its_result():
    from talkline.planning.context import fit_to_context
    from talkline.types import Message, ToolCall

    filler = "word " * 400
    msgs = [Message("user", filler),
            Message("assistant", None, tool_calls=(ToolCall("k1", "f", "{}"),)),
            Message("tool", filler, tool_call_id="k1"),
            Message("assistant", "done " * 50),
            Message("user", "new question")]
    from talkline.errors import ContextLengthExceededError

    dropped = set()
    for window in range(100, 1400, 20):
        try:
            fit = fit_to_context(msgs, model="gpt-4o", context_window=window, max_output=100,
                                 user_set_max_tokens=True)
        except ContextLengthExceededError:  # too small even for the newest turn
            continue
        kept = fit.messages
        dropped.add(fit.dropped)
        for i, m in enumerate(kept):
            if m.tool_calls:
                assert i + 1 < len(kept) and kept[i + 1].role == "tool"
            if m.role == "tool":
                assert i > 0 and kept[i - 1].tool_calls
    assert 0 in dropped and 4 in dropped and dropped <= {0, 4}  # the whole turn, or none


@dataclasses.dataclass
class Box:
    width: int
    label: str = "box"


def measure(box: Box, scale: float = 1.0) -> str:
    """Measure a box."""
    assert isinstance(box, Box)
    return f"{box.label}: {box.width * scale}"


def test_object_arguments_are_built_into_their_dataclass():
    from talkline.tools import Tool, ToolRunner
    from talkline.types import ToolCall

    runner = ToolRunner([Tool.from_function(measure)])
    [ok, wrong] = runner.run([
        ToolCall("m1", "measure", '{"box": {"width": 3, "label": "crate"}, "scale": 2}'),
        ToolCall("m2", "measure", '{"box": {"width": "wide"}}'),
    ])
    assert (ok.output, ok.error) == ("crate: 6.0", None)
    assert wrong.output.startswith("error: invalid arguments: 'wide' is not of type 'integer'")
    assert "(at box/width)" in wrong.output


def test_a_conversation_without_a_store_keeps_the_loop_in_memory(server):
    from talkline.session.conversation import ChatSession

    server.script(Reply(content=None, tool_calls=[call("m1", "add", {"a": 2, "b": 2})]),
                  Reply(content="4."), Reply(content="Bye."))
    with client(server) as c:
        session = ChatSession(c, tools=[add])
        session.send("2+2?", stream=False).until_done()
        session.send("Thanks", stream=False).until_done()
    sent = bodies(server)[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]


def test_before_round_can_end_the_loop_before_the_calls_run(server) -> None:
    seen: list[tuple[int, int | None]] = []

    def check(messages, usage):
        seen.append((len(messages), usage.total_tokens if usage else None))
        return "over budget" if len(seen) == 2 else None

    usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    asks = Reply(content=None, tool_calls=[call("c1", "get_weather", {"city": "Oslo"})],
                 usage=usage)
    server.script(asks, asks)
    ran: list[str] = []

    def get_weather(city: str) -> str:
        """The weather."""
        ran.append(city)
        return "snow"

    with client(server) as c:
        reply = c.complete("Weather?", tools=[get_weather], before_round=check)
    assert reply.budget_stopped == "over budget" and reply.chain_limit_reached is None
    assert ran == ["Oslo"]  # the first round ran; the second was stopped before running
    assert len(server.chat_requests) == 2
    assert seen == [(2, 10), (4, 20)]  # the conversation so far, and the loop's cost
    assert reply.loop_usage is not None and reply.loop_usage.total_tokens == 20
    assert [m.role for m in reply.tool_messages] == ["assistant", "tool"]

    server.script(asks, Reply("done"))

    async def main() -> None:
        async with AsyncClient(api_key="sk-test-fake-tools", base_url=server.url) as ac:
            stopped = await ac.complete("Weather?", tools=[get_weather],
                                        before_round=lambda m, u: "no")
            assert stopped.budget_stopped == "no"

    asyncio.run(main())
