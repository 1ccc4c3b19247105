"""`talkline chat` driven through a real pseudo-terminal (pexpect) against the scripted
server: memory across turns, Ctrl-C mid-stream, quitting, and resuming with -c."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time

import pexpect
import pytest

from talkline.testing import Fault

from .clihelp import SRC

KEY = "sk-test-fake-repl"


def spawn(server, home, *args: str) -> pexpect.spawn:
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": SRC,
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": server.url,
        "TALKLINE_HOME": str(home),
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "TERM": "xterm-256color",
        "NO_COLOR": "1",
    })
    env.pop("COLUMNS", None)
    child = pexpect.spawn(sys.executable, ["-m", "talkline", "chat", *args], env=env,
                          encoding="utf-8", timeout=20, dimensions=(40, 120))
    return child


# prompt_toolkit switches bracketed paste on each time it shows the prompt: a reliable
# sign that the REPL waits for input (the prompt text itself is drawn with cursor moves).
READY = "\x1b[?2004h"


def ask(child: pexpect.spawn, text: str, expect: str) -> None:
    child.expect_exact(READY)
    child.sendline(text)
    child.expect_exact(expect)


def test_three_turns_remember_everything_and_quit_exits_0(server, talkline_home):
    child = spawn(server, talkline_home, "-s", "Be brief.")
    ask(child, "first question", "Echo: first question")
    ask(child, "second question", "Echo: second question")
    ask(child, "third question", "Echo: third question")
    child.expect_exact(READY)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    last = server.chat_requests[-1].body["messages"]
    assert last == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "Echo: first question"},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "Echo: second question"},
        {"role": "user", "content": "third question"},
    ]


def test_ctrl_c_mid_stream_keeps_partial_and_goes_on_then_resume(server, talkline_home):
    server.script(Fault.stall(after_chunks=2, seconds=15, content="partial words here and more"))
    child = spawn(server, talkline_home)
    child.expect_exact(READY)
    child.sendline("tell me a long story")
    child.expect_exact("partial words")
    time.sleep(0.3)
    child.sendintr()
    child.expect_exact("interrupted")
    ask(child, "are you still there", "Echo: are you still there")
    child.expect_exact(READY)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # The interrupted reply is stored with its partial text, and not sent back as an answer.
    db = sqlite3.connect(talkline_home / "talkline.db")
    rows = db.execute("SELECT role, status, content FROM messages ORDER BY id").fetchall()
    db.close()
    assert rows[0] == ("user", "complete", "tell me a long story")
    assert rows[1][0:2] == ("assistant", "interrupted") and rows[1][2].startswith("partial")
    sent = server.chat_requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "user"]

    # Resume with -c: the next request carries the earlier turns.
    child = spawn(server, talkline_home, "-c")
    ask(child, "and now?", "Echo: and now?")
    child.expect_exact(READY)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    sent = server.chat_requests[-1].body["messages"]
    assert [m["content"] for m in sent] == [
        "tell me a long story", "are you still there", "Echo: are you still there",
        "and now?",
    ]


def test_ctrl_c_at_empty_prompt_needs_a_second_press(server, talkline_home):
    child = spawn(server, talkline_home)
    child.expect_exact(READY)
    child.sendintr()
    child.expect_exact("Press Ctrl-C again")
    child.expect_exact(READY)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_slash_commands(server, talkline_home):
    child = spawn(server, talkline_home)
    ask(child, "/set temperature 0.3", "temperature: 0.3")
    ask(child, "/set temperature 7", "temperature must be between 0 and 2, got 7")
    ask(child, "/system You are terse.", "System prompt set.")
    ask(child, "hello there", "Echo: hello there")
    ask(child, "/undo", "Dropped the last exchange")
    ask(child, "/bogus", "Unknown command /bogus")
    ask(child, "after undo", "Echo: after undo")
    ask(child, "/save My chat", "Saved as 'My chat'.")
    child.expect_exact(READY)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    body = server.chat_requests[-1].body
    assert body["temperature"] == 0.3
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "after undo"},
    ]


def test_multiline_block_input(server, talkline_home):
    child = spawn(server, talkline_home)
    child.expect_exact(READY)
    child.sendline('"""')
    child.sendline("line one")
    child.sendline("line two")
    child.sendline('"""')
    child.expect_exact("Echo: line one")
    child.expect_exact(READY)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    assert server.chat_requests[-1].body["messages"][-1]["content"] == "line one\nline two"


def test_sigkill_mid_stream_leaves_a_sound_database_with_the_question(server, talkline_home):
    server.script(Fault.stall(after_chunks=2, seconds=15))
    child = spawn(server, talkline_home)
    child.expect_exact(READY)
    child.sendline("a question that must survive")
    child.expect_exact("The quick")
    os.kill(child.pid, signal.SIGKILL)
    child.expect(pexpect.EOF)
    child.close()
    db = sqlite3.connect(talkline_home / "talkline.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = db.execute("SELECT role, content FROM messages WHERE role='user'").fetchall()
    db.close()
    assert rows == [("user", "a question that must survive")]


@pytest.mark.parametrize("word", ["quit", "exit"])
def test_piped_stdin_works_without_a_terminal(server, talkline_home, word):
    from .clihelp import run

    r = run("chat", input=f"hello pipe\n{word}\n",
            env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url})
    assert r.code == 0, r.err
    assert "Echo: hello pipe" in r.out


def test_retry_continue_history_export_usage_and_tab_completion(server, talkline_home, tmp_path):
    from talkline.testing import Reply

    server.script(Reply("first answer"), Reply("second answer, a new branch"),
                  Reply("cut off", finish_reason="length"), Reply(" and the rest."))
    child = spawn(server, talkline_home)
    ask(child, "question one", "first answer")
    ask(child, "/retry", "second answer, a new branch")
    assert [m["content"] for m in server.chat_requests[-1].body["messages"]] == ["question one"]
    ask(child, "question two", "/continue asks for more")
    ask(child, "/continue", "and the rest.")
    sent = server.chat_requests[-1].body["messages"]
    assert sent[-2] == {"role": "assistant", "content": "cut off"}
    assert "Continue exactly where" in sent[-1]["content"]
    ask(child, "/history", "question two")
    ask(child, "/usage", "turns:")
    out = tmp_path / "chat.md"
    ask(child, f"/export {out}", "Wrote")
    child.expect_exact(READY)
    child.send("/pa\t")  # tab completes the slash command
    child.sendline("")
    child.expect_exact("model:")
    child.expect_exact(READY)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    text = out.read_text()
    assert "second answer, a new branch" in text and "cut off and the rest." in text
    assert "first answer" not in text  # the retried branch is not on the active path


def test_continue_then_a_question_sends_the_joined_reply_once(server, talkline_home):
    from talkline.testing import Reply

    server.script(Reply("Part one", finish_reason="length"), Reply(" and part two."))
    child = spawn(server, talkline_home)
    ask(child, "tell me in two parts", "/continue asks for more")
    ask(child, "/continue", "and part two.")
    ask(child, "and now?", "Echo: and now?")
    assert server.chat_requests[-1].body["messages"] == [
        {"role": "user", "content": "tell me in two parts"},
        {"role": "assistant", "content": "Part one and part two."},
        {"role": "user", "content": "and now?"},
    ]
    child.expect_exact(READY)
    child.sendline("/history")
    child.expect_exact("Echo: and now?")
    shown = child.before
    child.expect_exact(READY)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # /history draws a header per message, then the message rendered like a reply
    assert shown.count("assistant:") == 2, shown
    assert "Part one and part two." in shown
    assert "Part one\r\n" not in shown
    db = sqlite3.connect(talkline_home / "talkline.db")
    kept = db.execute("SELECT content FROM messages WHERE role = 'assistant' ORDER BY id")
    assert [r[0] for r in kept] == ["Part one", "Part one and part two.", "Echo: and now?"]
    db.close()
