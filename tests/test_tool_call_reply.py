"""A reply that asks for tool calls: shown on stdout, said on stderr, stored, shown by
`history show`, and left out of what a later -c sends (no tool ran to answer them)."""

from __future__ import annotations

import json

import pytest

from talkline.testing import Reply

from .clihelp import run

KEY = "sk-test-fake-tools"
TOOLS = json.dumps([{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}])
CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
NOTICE = ("finish_reason: tool_calls (the calls are shown above and stored; to have talkline "
          "run them, give the functions with --functions FILE.py)")


def env(server) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}


@pytest.mark.parametrize("mode", [[], ["--no-stream"], ["--stream"]])
def test_tool_call_reply_is_printed_said_and_stored(server, mode):
    server.script(Reply(content=None, tool_calls=[CALL]))
    r = run(*mode, "-p", "tools", TOOLS, "Weather in Paris?", env=env(server))
    assert r.code == 0, r.err
    assert r.out == 'tool call: get_weather({"city": "Paris"})\n'
    assert NOTICE in r.err
    assert server.chat_requests[-1].body["tools"][0]["function"]["name"] == "get_weather"

    r = run("history", "list", "--json", env=env(server))
    cid = json.loads(r.out)[0]["id"]
    r = run("history", "show", "--json", cid, env=env(server))
    stored = json.loads(r.out)["messages"][-1]
    assert stored["role"] == "assistant" and stored["finish_reason"] == "tool_calls"
    assert stored["tool_calls"] == [CALL]
    r = run("history", "show", cid, env=env(server))
    assert 'tool call: `get_weather({"city":"Paris"})`' in r.out

    # The calls were never answered by a tool: a later -c does not send them.
    assert run("-c", "Never mind, thanks.", env=env(server)).code == 0
    sent = server.chat_requests[-1].body["messages"]
    assert sent == [{"role": "user", "content": "Weather in Paris?"},
                    {"role": "user", "content": "Never mind, thanks."}]


def test_text_and_several_calls_print_the_text_then_each_call(server):
    second = {"id": "call_2", "type": "function",
              "function": {"name": "get_time", "arguments": "{}"}}
    server.script(Reply(content="Let me check.", tool_calls=[CALL, second]))
    r = run("-p", "tools", TOOLS, "Weather and time?", env=env(server))
    assert r.code == 0, r.err
    assert r.out == ('Let me check.\ntool call: get_weather({"city": "Paris"})\n'
                     "tool call: get_time({})\n")
    assert NOTICE in r.err


def test_json_output_is_unchanged_by_tool_calls(server):
    server.script(Reply(content=None, tool_calls=[CALL]))
    r = run("--json", "-p", "tools", TOOLS, "Weather in Paris?", env=env(server))
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["choices"][0]["message"]["tool_calls"] == [CALL]
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert "tool call:" not in r.out and NOTICE not in r.err


def test_chat_shows_the_calls_too(server):
    server.script(Reply(content=None, tool_calls=[CALL]))
    r = run("chat", "-p", "tools", TOOLS, input="Weather in Paris?\nquit\n", env=env(server))
    assert r.code == 0, r.err
    assert 'tool call: get_weather({"city": "Paris"})\n' in r.out
    assert NOTICE in r.err
