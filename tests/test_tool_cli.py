"""Tools on the command line against the scripted server: `--functions` runs the public
functions a file defines (not its imports), each call shown on stderr with what the loop
cost, `-c` sends the stored calls and results back, the chain limit and the flags' errors,
`--tool-approve` answered "n" in a real pseudo-terminal, and `/tools` in the REPL."""

from __future__ import annotations

import json
import os
import sys

import pexpect

from openapi_schema import validate
from talkline.testing import Reply

from .clihelp import SRC, run

KEY = "sk-test-fake-tools-cli"
FUNCTIONS = '''\
from os.path import join
from json import dumps as encode


def get_weather(city: str) -> str:
    """The weather in a city now.

    Args:
        city: The city.
    """
    return "sunny in " + city


def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError("broken " + reason)


def _helper() -> None:
    pass
'''


def call(cid: str, name: str, args: dict) -> dict:
    return {"id": cid, "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}


def env(server) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}


def functions_file(tmp_path) -> str:
    path = tmp_path / "tools.py"
    path.write_text(FUNCTIONS, encoding="utf-8")
    return str(path)


def bodies(server) -> list[dict]:
    out = [r.body for r in server.chat_requests]
    for body in out:
        validate("CreateChatCompletionRequest", body)
    return out


def test_functions_run_shown_on_stderr_and_resumed_with_c(server, tmp_path):
    server.script(Reply(content=None, tool_calls=[call("call_1", "get_weather",
                                                       {"city": "Paris"})]),
                  Reply(content="It is sunny in Paris."))
    r = run("--functions", functions_file(tmp_path), "Weather in Paris?", env=env(server))
    assert r.code == 0, r.err
    assert r.out == "It is sunny in Paris.\n"
    assert 'tool: get_weather({"city": "Paris"}) -> sunny in Paris (' in r.err
    assert "tools: 1 call in 2 requests cost " in r.err and " tokens (" in r.err
    assert "finish_reason: tool_calls" not in r.err
    first, second = bodies(server)
    # Only what the file defines publicly: not `join`/`encode` it imports, not `_helper`.
    assert sorted(t["function"]["name"] for t in first["tools"]) == ["explode", "get_weather"]
    assert second["messages"][-1] == {"role": "tool", "content": "sunny in Paris",
                                      "tool_call_id": "call_1"}

    # -c: the calls and results are messages of the conversation, sent back.
    assert run("-c", "Thanks!", env=env(server)).code == 0
    sent = bodies(server)[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1" and sent[2]["tool_call_id"] == "call_1"

    # ... and export keeps them.
    r = run("history", "list", "--json", env=env(server))
    cid = json.loads(r.out)[0]["id"]
    r = run("history", "show", "--json", cid, env=env(server))
    roles = [m["role"] for m in json.loads(r.out)["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user", "assistant"]


def test_a_tool_that_raises_is_shown_and_sent_back(server, tmp_path):
    server.script(Reply(content=None, tool_calls=[call("e1", "explode", {"reason": "now"})]),
                  Reply(content="It failed."))
    r = run("--functions", functions_file(tmp_path), "Try it", env=env(server))
    assert r.code == 0, r.err
    assert 'tool: explode({"reason": "now"}) failed (' in r.err
    assert "RuntimeError: broken now" in r.err
    assert bodies(server)[1]["messages"][-1]["content"] == "error: RuntimeError: broken now"


def test_tools_debug_shows_full_arguments_and_results(server, tmp_path):
    city = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch" * 2
    server.script(Reply(content=None, tool_calls=[call("d1", "get_weather", {"city": city})]),
                  Reply(content="Wet."))
    r = run("--functions", functions_file(tmp_path), "--tools-debug", "Weather?",
            env=env(server))
    assert r.code == 0, r.err
    assert f'tool: get_weather({{"city": "{city}"}})' in r.err
    assert f"  sunny in {city}" in r.err


def test_the_chain_limit_is_said_with_how_to_raise_it(server, tmp_path):
    again = Reply(content=None, tool_calls=[call("l1", "get_weather", {"city": "X"})])
    server.script(again, again)
    r = run("--functions", functions_file(tmp_path), "--chain-limit", "1", "Loop",
            env=env(server))
    assert r.code == 1
    assert ("the tool loop stopped at its chain limit (1 rounds of calls): the model's last "
            "calls (above) were not run. Raise the limit with --chain-limit N.") in r.err
    assert 'tool call: get_weather({"city": "X"})' in r.out
    assert len(server.chat_requests) == 2
    r = run("--functions", functions_file(tmp_path), "--chain-limit", "0", "x",
            env=env(server))
    assert r.code == 2 and "--chain-limit" in r.err and "Traceback" not in r.err


def test_calls_without_functions_say_how_to_run_them(server):
    server.script(Reply(content=None, tool_calls=[call("n1", "get_weather", {"city": "A"})]))
    tools = json.dumps([{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {}}}}])
    r = run("-p", "tools", tools, "Weather?", env=env(server))
    assert r.code == 0, r.err
    assert ("finish_reason: tool_calls (the calls are shown above and stored; to have "
            "talkline run them, give the functions with --functions FILE.py)") in r.err


def test_bad_functions_files_are_clear_errors(server, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1\n\nraise ValueError('no config')\n", encoding="utf-8")
    r = run("--functions", str(broken), "hi", env=env(server))
    assert r.code == 2 and "Traceback" not in r.err
    assert (f"--functions {broken}, line 3: importing it raised ValueError: no config. "
            "Fix the file and run again.") in r.err

    syntax = tmp_path / "syntax.py"
    syntax.write_text("def f(:\n", encoding="utf-8")
    r = run("--functions", str(syntax), "hi", env=env(server))
    assert r.code == 2 and f"--functions {syntax}, line 1: syntax error" in r.err

    r = run("--functions", str(tmp_path / "missing.py"), "hi", env=env(server))
    assert r.code == 2 and "the file does not exist. Give a .py file" in r.err

    empty = tmp_path / "empty.py"
    empty.write_text("from os import path\n", encoding="utf-8")
    r = run("--functions", str(empty), "hi", env=env(server))
    assert r.code == 2 and "defines no public function" in r.err

    untyped = tmp_path / "untyped.py"
    untyped.write_text("def send(data: bytes) -> None:\n    pass\n", encoding="utf-8")
    r = run("--functions", str(untyped), "hi", env=env(server))
    assert r.code == 2 and "parameter 'data' of send()" in r.err and "Use str, int" in r.err

    r = run("--tool-approve", "hi", env=env(server))
    assert r.code == 2 and "--tool-approve needs --functions FILE.py" in r.err
    assert server.chat_requests == []


def test_tool_approve_without_a_terminal_refuses_to_run(server, tmp_path):
    import subprocess

    full = dict(os.environ, PYTHONPATH=SRC, **env(server))
    proc = subprocess.run([sys.executable, "-m", "talkline", "--functions",
                           functions_file(tmp_path), "--tool-approve", "hi"],
                          capture_output=True, text=True, env=full, start_new_session=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 2
    assert ("--tool-approve asks y/N on the terminal before each call, and there is no "
            "terminal to ask on. Run talkline from a terminal, or leave --tool-approve out "
            "to run the calls without asking.") in proc.stderr
    assert server.chat_requests == []


def test_tool_approve_answered_n_in_a_terminal_refuses_the_call(server, tmp_path,
                                                                talkline_home):
    city = "Rome\x1b]52;c;ZXZpbA==\x07" + "x" * 80  # an escape, and longer than a line
    server.script(Reply(content=None, tool_calls=[call("a1", "get_weather", {"city": city})]),
                  Reply(content="Fine, I will not."))
    child_env = dict(os.environ, PYTHONPATH=SRC, TALKLINE_HOME=str(talkline_home),
                     NO_COLOR="1", TERM="xterm-256color", **env(server))
    child_env.pop("COLUMNS", None)
    child = pexpect.spawn(sys.executable, ["-m", "talkline", "--functions",
                                           functions_file(tmp_path), "--tool-approve",
                                           "Weather in Rome?"],
                          env=child_env, encoding="utf-8", timeout=30, dimensions=(40, 120))
    # The whole arguments are shown (what is approved is seen), the escape made visible.
    child.expect_exact('run get_weather({"city": "Rome\\u001b]52;c;ZXZpbA==\\u0007' + "x" * 80
                       + '"})? [y/N] ')
    assert "\x1b]52" not in child.before
    child.sendline("n")
    child.expect_exact("refused: not run, the model is told so")
    child.expect_exact("Fine, I will not.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    content = bodies(server)[1]["messages"][-1]["content"]
    assert content.startswith("error: the user refused to run this call")


def test_chat_runs_tools_and_lists_them(server, tmp_path):
    server.script(Reply(content=None, tool_calls=[call("c1", "get_weather", {"city": "Oslo"})]),
                  Reply(content="Cold and sunny."))
    r = run("chat", "--functions", functions_file(tmp_path),
            input="/tools\nWeather in Oslo?\nquit\n", env=env(server))
    assert r.code == 0, r.err
    assert "get_weather: The weather in a city now.\n" in r.out
    assert "explode: Always fails.\n" in r.out
    assert "Cold and sunny." in r.out
    assert 'tool: get_weather({"city": "Oslo"}) -> sunny in Oslo (' in r.err
    r = run("chat", input="/tools\nquit\n", env=env(server))
    assert "No tools loaded: start the chat with --functions FILE.py." in r.err


def test_the_cli_default_chain_limit_is_the_librarys():
    from talkline.cli.commands.options import DEFAULT_CHAIN_LIMIT as CLI
    from talkline.client._tools import DEFAULT_CHAIN_LIMIT as LIBRARY

    assert CLI == LIBRARY


def test_the_budget_covers_the_whole_tool_loop(server, tmp_path, talkline_home):
    """--budget is the command's allowance: before each round of calls is run, the next
    request's worst case plus what the loop already cost is checked; over it, the loop
    stops (the calls unrun, as at the chain limit) instead of spending more."""
    paid = {"prompt_tokens": 100_000, "completion_tokens": 10, "total_tokens": 100_010}
    server.script(Reply(content=None, tool_calls=[call("b1", "get_weather", {"city": "X"})],
                        usage=paid),
                  Reply(content="never asked for"))
    r = run("--functions", functions_file(tmp_path), "-m", "gpt-4o-mini",
            "--max-tokens", "1000", "--budget", "0.01", "Weather?", env=env(server))
    assert r.code == 1, r.err
    assert "Warning: the tool loop stopped before its next request: This request could " \
           "cost up to $0.0156 but only $0.0100 is left of the budget for this command " \
           "($0.0100, --budget), counting the $0.0150 its earlier requests cost. The " \
           "model's last calls (above) were not run. Raise --budget" in r.err
    assert "tool: get_weather" not in r.err  # not run: its answer would have to be paid
    assert len(server.chat_requests) == 1
    # What was paid for is stored with the reply.
    r = run("history", "list", "--json", env=env(server))
    (conv,) = json.loads(r.out)
    assert conv["prompt_tokens"] == 100_000
