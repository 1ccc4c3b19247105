"""`talkline complete`, run as a real subprocess against the scripted server on 127.0.0.1:
what it sends (each body checked against the official `CreateCompletionRequest` schema),
what it prints, what it stores, and its messages for the retired and the wrong."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from talkline.testing import Error, Fault, Reply

from .clihelp import run
from .openapi_schema import validate

KEY = "sk-test-fake-complete-5678"


def env_for(server: Any, **extra: str) -> dict[str, str]:
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}
    env.update(extra)
    return env


def bodies(server: Any) -> list[dict[str, Any]]:
    out = [r.body for r in server.requests if r.path.endswith("/v1/completions")]
    for body in out:
        validate("CreateCompletionRequest", body)
    return out


def stored(home: Path) -> list[tuple[str, str | None, str, float | None]]:
    dbs = list(home.rglob("*.db"))
    if not dbs:
        return []
    with sqlite3.connect(dbs[0]) as db:
        return list(db.execute("SELECT role, content, status, cost FROM messages ORDER BY id"))


def test_a_completion_is_printed_and_stored_with_its_cost(server: Any, talkline_home: Path
                                                          ) -> None:
    server.script(Reply(" a king who loved bread.", usage={
        "prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}))
    r = run("complete", "Once upon a time there was", "-m", "gpt-3.5-turbo-instruct",
            "--max-tokens", "20", "-t", "0.7", "--top-p", "0.9", "--stop", "\n", "--stop",
            "THE END", "--seed", "7", "-u", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == " a king who loved bread.\n"
    assert "usage: 4 prompt + 6 completion = 10 tokens" in r.err
    [body] = bodies(server)
    assert body == {"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon a time there was",
                    "max_tokens": 20, "temperature": 0.7, "top_p": 0.9,
                    "stop": ["\n", "THE END"], "seed": 7}
    rows = stored(talkline_home)
    assert [(role, content, status) for role, content, status, _ in rows] == [
        ("user", "Once upon a time there was", "complete"),
        ("assistant", " a king who loved bread.", "complete")]
    history = run("history", "list", env=env_for(server))
    assert "Once upon a time there was" in history.out
    usage = run("usage", env=env_for(server))
    assert "gpt-3.5-turbo-instruct" in usage.out


def test_stdin_is_joined_like_prompt_joins_it_and_no_log_stores_nothing(
        server: Any, talkline_home: Path) -> None:
    r = run("complete", "Go on:", "--no-log", input="def add(a, b):\n", env=env_for(server))
    assert r.code == 0, r.err
    assert bodies(server)[0]["prompt"] == "def add(a, b):\n\nGo on:"
    assert stored(talkline_home) == []


def test_json_prints_the_text_completion_with_echo_logprobs_suffix_on_the_wire(
        server: Any) -> None:
    server.script(Reply(choices=["one", "two"]))
    r = run("complete", "Say:", "--json", "--echo", "--logprobs", "2", "--suffix", "!",
            "-n", "2", env=env_for(server))
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["object"] == "text_completion"
    assert [c["text"] for c in data["choices"]] == ["Say:one", "Say:two"]
    assert data["choices"][0]["logprobs"]["tokens"]
    [body] = bodies(server)
    assert body["echo"] is True and body["logprobs"] == 2 and body["suffix"] == "!"
    assert body["n"] == 2 and "stream" not in body


def test_several_choices_are_printed_numbered(server: Any) -> None:
    server.script(Reply(choices=["red", "blue"]))
    r = run("complete", "A colour:", "-n", "2", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == "## Choice 1\n\nred\n\n## Choice 2\n\nblue\n\n"


def test_a_cut_off_completion_says_how_to_get_more(server: Any) -> None:
    server.script(Reply("and then", finish_reason="length"))
    r = run("complete", "Story:", "--max-tokens", "2", env=env_for(server))
    assert r.code == 0, r.err
    assert "cut off by the token limit (finish_reason: length). Raise --max-tokens for a " \
           "longer completion." in r.err


def test_the_retired_engines_url_is_refused_before_sending(server: Any) -> None:
    r = run("complete", "def fib(n):", "--base-url",
            "https://api.openai.com/v1/engines/davinci-codex", env=env_for(server))
    assert r.code == 2 and "Traceback" not in r.err
    assert "the /engines/davinci-codex/completions endpoint was retired (engines gave way " \
           "to models in June 2022)" in r.err
    # The hint is the catalog's: OpenAI's own completions models and when they went.
    assert "OpenAI's own completions models (babbage-002, davinci-002, " \
           "gpt-3.5-turbo-instruct) were retired on 2026-09-28" in r.err
    assert 'talkline complete -m MODEL (POST https://api.openai.com/v1/completions with ' \
           '"model": "MODEL")' in r.err
    assert server.requests == []
    assert KEY not in r.err


def test_a_chat_model_on_openai_gets_pointed_to_talkline_prompt(server: Any,
                                                               talkline_home: Path) -> None:
    server.completions_api = False
    r = run("complete", "Hi", "-m", "gpt-4o-mini", env=env_for(server))
    assert r.code == 1 and "Traceback" not in r.err
    assert "serves no text completions for this model" in r.err
    assert "For a chat model use `talkline prompt` (Chat Completions)" in r.err
    assert [(role, status) for role, _, status, _ in stored(talkline_home)] == [
        ("user", "complete"), ("assistant", "error")]


def test_wrong_values_are_usage_errors_naming_the_fix(server: Any) -> None:
    cases = [
        (["--logprobs", "9"], "'--logprobs': 9 is not in the range 0<=x<=5"),
        (["--stop", "a", "--stop", "b", "--stop", "c", "--stop", "d", "--stop", "e"],
         "stop takes at most 4 sequences"),
        (["-t", "5"], "temperature must be between 0 and 2"),
    ]
    for args, said in cases:
        r = run("complete", "Hi", *args, env=env_for(server))
        assert r.code == 2 and said in r.err and "Traceback" not in r.err, (args, r.err)
    r = run("complete", env=env_for(server))
    assert r.code == 2 and "The prompt is empty. Give a PROMPT argument or pipe text in" in r.err
    assert bodies(server) == []


def test_stdin_that_is_not_utf8_is_refused(server: Any) -> None:
    import subprocess
    import sys

    from .clihelp import SRC

    proc = subprocess.run([sys.executable, "-m", "talkline", "complete"], input=b"caf\xe9",
                          capture_output=True, env={**env_for(server), "PYTHONPATH": SRC})
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "standard input is not UTF-8: byte 3 (0xe9)" in err
    assert bodies(server) == []


def test_a_broken_stream_on_a_pipe_is_retried_and_the_whole_text_printed(server: Any) -> None:
    server.script(Fault.cut_after(1), Reply("the whole text"))
    r = run("complete", "Go", env=env_for(server))
    assert r.code == 0, r.err
    assert r.out == "the whole text\n"


def test_a_budget_of_zero_refuses_before_sending(server: Any) -> None:
    server.script(Error.rate_limit())
    r = run("complete", "Hi", "-m", "gpt-3.5-turbo-instruct", "--budget", "0",
            env=env_for(server))
    assert r.code != 0 and "Traceback" not in r.err and "budget" in r.err.lower()
    assert bodies(server) == []
