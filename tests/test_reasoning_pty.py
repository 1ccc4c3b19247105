"""Reasoning in a real terminal (pexpect): the REPL shows it dim under `thinking`, then a
blank line, then the answer; --hide-reasoning hides it; the next turn never sends it."""

from __future__ import annotations

import os
import re
import sys

import pexpect

from talkline.testing import Reply

from .clihelp import SRC

KEY = "sk-test-fake-reasoning-pty"
READY = "\x1b[?2004h"  # prompt_toolkit waits for input (see test_repl_pty.py)
DIM = "\x1b[2m"


def spawn(server, home, *args: str) -> pexpect.spawn:
    env = dict(os.environ)
    env.update({"PYTHONPATH": SRC, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url,
                "TALKLINE_HOME": str(home), "PROMPT_TOOLKIT_NO_CPR": "1",
                "TERM": "xterm-256color"})
    env.pop("COLUMNS", None)
    env.pop("NO_COLOR", None)
    return pexpect.spawn(sys.executable, ["-m", "talkline", *args], env=env,
                         encoding="utf-8", timeout=20, dimensions=(40, 120))


def _quit(child: pexpect.spawn) -> None:
    child.expect_exact(READY)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_the_repl_shows_reasoning_dim_under_thinking_before_the_answer(
        server, talkline_home) -> None:
    server.script(Reply("Forty-two.", reasoning="Deep thought here.", chunk_size=4),
                  Reply("<think>Inline musing.</think>\n\nStill forty-two."))
    child = spawn(server, talkline_home, "chat")
    child.expect_exact(READY)
    child.sendline("what is the answer")
    child.expect_exact("Forty-two.")
    shown = child.before
    assert f"{DIM}thinking" in shown
    text = re.sub(r"\x1b\[[0-9;]*m", "", shown)  # the dim pieces, joined
    assert "thinking\r\nDeep thought here.\r\n\r\n" in text  # a blank line, the answer
    child.expect_exact(READY)
    child.sendline("sure")
    child.expect_exact("Still forty-two.")
    assert "Inline" in child.before and "<think>" not in child.before
    _quit(child)
    sent = server.chat_requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "assistant"] == ["Forty-two."]
    assert "thought" not in str(sent)


def test_hide_reasoning_in_the_repl_and_the_one_shot_command(server, talkline_home) -> None:
    server.script(Reply("Forty-two.", reasoning="Secret musing."),
                  Reply("Again.", reasoning="Secret musing."))
    child = spawn(server, talkline_home, "chat", "--hide-reasoning")
    child.expect_exact(READY)
    child.sendline("what is the answer")
    child.expect_exact("Forty-two.")
    assert "musing" not in child.before and "thinking" not in child.before
    _quit(child)
    child = spawn(server, talkline_home, "--hide-reasoning", "again")
    child.expect(pexpect.EOF)
    child.close()
    assert "Again." in child.before and "musing" not in child.before
    assert child.exitstatus == 0


def test_the_one_shot_command_on_a_terminal_shows_it_on_stderr(server, talkline_home) -> None:
    server.script(Reply("Forty-two.", reasoning="Visible musing."))
    child = spawn(server, talkline_home, "question")
    child.expect(pexpect.EOF)
    child.close()
    out = child.before
    assert child.exitstatus == 0
    assert f"{DIM}thinking" in out
    text = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert text.index("thinking") < text.index("Visible musing.") < text.index("Forty-two.")
