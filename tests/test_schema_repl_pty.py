"""`/schema` in the REPL, through a real pseudo-terminal: set, used on the next turn
(the strict response_format sent), a bad one refused with its column, cleared."""

from __future__ import annotations

import pexpect

from openapi_schema import validate
from talkline.testing import Reply

from .test_repl_pty import READY, ask, spawn


def test_slash_schema_sets_uses_refuses_and_clears(server, talkline_home):
    server.script(Reply('{"city": "Oslo"}'), Reply("plain again"))
    child = spawn(server, talkline_home)
    ask(child, "/schema city", "schema set: answers are JSON with city (/schema alone clears it)")
    ask(child, "a city please", '"city": "Oslo"')
    ask(child, "/schema city flot", "unknown type 'flot' at column 6")
    ask(child, "/schema", "schema cleared: answers are text again")
    ask(child, "and now text", "plain again")
    child.expect_exact(READY)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    first, second = (r.body for r in server.chat_requests)
    for body in (first, second):
        validate("CreateChatCompletionRequest", body)
    assert first["response_format"]["json_schema"]["schema"]["required"] == ["city"]
    assert "response_format" not in second
