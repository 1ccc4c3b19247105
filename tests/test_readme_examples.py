"""The README's Python examples run, as a user would run them, against the scripted server.

A python code block is run when the line just before it is an HTML comment
`<!-- test: NAME -->`. Each block runs in its own interpreter with OPENAI_BASE_URL and
OPENAI_API_KEY pointing at a ScriptedServer on 127.0.0.1 (so the example must read them
from the environment, with `Client()`, as users write it), and must exit 0. `SCRIPTS[NAME]`
gives the server's replies for the block and a check of what it printed and sent; every
marked block must have an entry (a test fails otherwise). To add an example: mark its
block in README.md and add its entry here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from openapi_schema import validate
from talkline.testing import Reply

from .clihelp import SRC

README = Path(__file__).resolve().parents[1] / "README.md"
MARKED = re.compile(r"^<!-- test: ([\w-]+) -->\n```python\n(.*?)^```", re.M | re.S)


@dataclass(frozen=True)
class Script:
    replies: tuple[Any, ...] = ()
    check: Callable[[str, list[dict[str, Any]]], None] = field(default=lambda out, bodies: None)


def _check_tools(out: str, bodies: list[dict[str, Any]]) -> None:
    assert 'ran count_letters({"word": "strawberry", "letter": "r"}) -> 3' in out
    assert "There are 3 r's in strawberry." in out
    assert bodies[0]["tools"][0]["function"]["name"] == "count_letters"
    assert bodies[1]["messages"][-1] == {"role": "tool", "content": "3",
                                         "tool_call_id": "call_r"}


def _check_schema(out: str, bodies: list[dict[str, Any]]) -> None:
    assert out == "Paris 2100000\n"
    (body,) = bodies
    fmt = body["response_format"]["json_schema"]
    assert fmt["strict"] is True
    assert fmt["schema"]["properties"]["population"] == {"type": "integer"}


def _check_responses(out: str, bodies: list[dict[str, Any]]) -> None:
    assert out == "Hello from the Responses API.\n"
    (body,) = bodies
    assert "messages" not in body and body["input"] == [{"role": "user", "content": "Hi"}]
    assert body["model"] == "o3-pro"
    assert body["reasoning"] == {"summary": "auto", "effort": "high"}


def _check_templates(out: str, bodies: list[dict[str, Any]]) -> None:
    assert out == "This sentence has two errors.\n"
    (body,) = bodies
    system, user = body["messages"]
    assert system["role"] == "system" and "terse copy editor" in system["content"]
    assert user == {"role": "user", "content": "Ths sentense has two erors."}


def _check_complete(out: str, bodies: list[dict[str, Any]]) -> None:
    assert out == " sat on the mat.\n"
    (body,) = bodies
    assert body == {"model": "qwen2.5-0.5b", "prompt": "The cat", "max_tokens": 8,
                    "stop": ["\n"]}


SCRIPTS: dict[str, Script] = {
    "templates": Script(replies=(Reply("This sentence has two errors."),),
                        check=_check_templates),
    "complete": Script(replies=(Reply(" sat on the mat."),), check=_check_complete),
    "responses": Script(
        replies=(Reply("Hello from the Responses API.", reasoning="Greet back."),),
        check=_check_responses),
    "schema": Script(
        replies=(Reply('{"city": "Paris", "country": "France", "population": 2100000}'),),
        check=_check_schema),
    "tools": Script(
        replies=(Reply(content=None, tool_calls=[{
            "id": "call_r", "type": "function", "function": {
                "name": "count_letters",
                "arguments": json.dumps({"word": "strawberry", "letter": "r"})}}]),
                 Reply(content="There are 3 r's in strawberry.")),
        check=_check_tools),
}


def blocks() -> list[tuple[str, str]]:
    return MARKED.findall(README.read_text(encoding="utf-8"))


def test_the_readme_has_marked_examples_each_with_its_script():
    names = [name for name, _ in blocks()]
    assert {"tools", "schema"} <= set(names)
    assert sorted(names) == sorted(SCRIPTS), "every marked README block needs a SCRIPTS entry"


@pytest.mark.parametrize(("name", "code"), blocks(), ids=[n for n, _ in blocks()])
def test_readme_example_runs(server, talkline_home, name, code):
    script = SCRIPTS[name]
    server.script(*script.replies)
    env = dict(os.environ, PYTHONPATH=SRC, OPENAI_API_KEY="sk-test-fake-readme",
               OPENAI_BASE_URL=server.url, TALKLINE_HOME=str(talkline_home))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, cwd=talkline_home)
    assert proc.returncode == 0, proc.stderr
    bodies = [r.body for r in server.chat_requests]
    for body in bodies:
        validate("CreateChatCompletionRequest", body)
    for request in server.responses_requests:
        validate("CreateResponse", request.body)
        bodies.append(request.body)
    for request in server.requests:
        if request.path.endswith("/v1/completions"):
            validate("CreateCompletionRequest", request.body)
            bodies.append(request.body)
    script.check(proc.stdout, bodies)
