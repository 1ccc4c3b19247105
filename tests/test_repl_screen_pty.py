"""`talkline chat` in a pseudo-terminal, its output replayed through a terminal emulator
(pyte): what the screen and scrollback hold when keys are typed during a reply, /copy
through the terminal (OSC 52), the window gauge after /undo, and /history."""

from __future__ import annotations

import base64
import io
import os
import sys
from pathlib import Path

import pexpect
import pyte
import pytest

from talkline.testing import Reply, ScriptedServer

from .clihelp import SRC

ROWS, COLS = 30, 100
KEY = "sk-test-fake-screen"
READY = "\x1b[?2004h"  # prompt_toolkit turns bracketed paste on as it shows the prompt


def spawn(server: ScriptedServer, home: Path, *args: str, **env: str) -> pexpect.spawn:
    full = dict(os.environ)
    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TMUX"):
        full.pop(name, None)
    full.update(PYTHONPATH=SRC, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=server.url,
                TALKLINE_HOME=str(home), TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1",
                **env)
    child = pexpect.spawn(sys.executable, ["-m", "talkline", "chat", *args], env=full,
                          encoding="utf-8", timeout=30, dimensions=(ROWS, COLS))
    child.logfile_read = io.StringIO()
    return child


def received(child: pexpect.spawn) -> str:
    return child.logfile_read.getvalue()  # type: ignore[no-any-return]


def screen_rows(text: str) -> list[str]:
    """The scrollback and the screen after `text` was written to a terminal."""
    screen = pyte.HistoryScreen(COLS, ROWS, history=100_000)
    pyte.Stream(screen).feed(text)
    rows = ["".join(line[x].data for x in range(COLS)).rstrip() for line in screen.history.top]
    rows += [line.rstrip() for line in screen.display]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def leave(child: pexpect.spawn) -> None:
    child.expect_exact(READY)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


ANSWER = [f"Answer line {i}: the quick brown fox jumps over the lazy dog." for i in range(1, 9)]


@pytest.mark.parametrize("plain", [False, True], ids=["markdown", "plain"])
def test_keys_typed_during_a_reply_wait_in_the_next_prompt(
    server: ScriptedServer, talkline_home: Path, plain: bool
) -> None:
    server.script(Reply("\n\n".join(ANSWER), chunk_size=12, chunk_delay=0.08))
    child = spawn(server, talkline_home, **({"NO_COLOR": "1"} if plain else {}))
    child.expect_exact(READY)
    child.sendline("tell me eight things")
    child.expect_exact("Answer line 2")
    child.send("next question")  # typed while the reply streams
    child.expect_exact("Answer line 8: the quick brown fox jumps over the lazy dog.")
    child.expect_exact(READY)
    child.expect_exact("next question")  # the next prompt is drawn holding it
    rows = screen_rows(received(child))
    for line in ANSWER:  # the answer is intact: each line once, whole
        assert sum(row.strip() == line for row in rows) == 1, "\n".join(rows)
    assert [row for row in rows if "next question" in row] == [rows[-1]]
    assert rows[-1].endswith("/128k> next question")  # the gauge, then the typed text
    assert len(server.chat_requests) == 1  # nothing was sent by the typing itself
    child.sendline("")  # Enter sends what was typed ahead
    child.expect_exact("Echo: next question")
    leave(child)
    assert server.chat_requests[-1].body["messages"][-1] == {
        "role": "user", "content": "next question"}


@pytest.mark.parametrize("tmux", [False, True], ids=["terminal", "tmux"])
def test_copy_without_a_clipboard_tool_goes_through_the_terminal(
    server: ScriptedServer, talkline_home: Path, tmp_path: Path, tmux: bool
) -> None:
    reply = "Copy me: naïve ✓ `code`\n\nsecond paragraph"
    server.script(Reply(reply))
    empty = tmp_path / "bin"  # a PATH with no pbcopy, wl-copy, xclip, xsel or clip.exe
    empty.mkdir()
    env = {"PATH": str(empty), "NO_COLOR": "1"}
    if tmux:
        env["TMUX"] = "/tmp/tmux-1000/default,1234,0"
    child = spawn(server, talkline_home, **env)
    child.expect_exact(READY)
    child.sendline("something to copy")
    child.expect_exact("second paragraph")
    child.expect_exact(READY)
    before = len(received(child))
    child.sendline("/copy")
    message = (f"Copied {len(reply)} characters via the terminal (OSC 52); if nothing was "
               "copied, your terminal may not allow it.")
    child.expect_exact(message)
    leave(child)
    payload = base64.b64encode(reply.encode()).decode()
    osc = (f"\x1bPtmux;\x1b\x1b]52;c;{payload}\x07\x1b\\" if tmux
           else f"\x1b]52;c;{payload}\x07")
    assert osc in received(child)[before:]  # the deliberate sequence, not sanitised away


def test_copy_cuts_a_huge_reply_and_says_so(
    server: ScriptedServer, talkline_home: Path, tmp_path: Path
) -> None:
    reply = "0123456789" * 12_000  # 120,000 characters: over the 100 KB limit
    server.script(Reply(reply, chunk_size=10_000))
    (tmp_path / "bin").mkdir()
    child = spawn(server, talkline_home, PATH=str(tmp_path / "bin"), NO_COLOR="1")
    child.expect_exact(READY)
    child.sendline("a lot")
    child.expect_exact(READY)
    before = len(received(child))
    child.sendline("/copy")
    child.expect_exact("Copied the first 100,000 of 120,000 characters (the terminal's limit "
                       "is 100 KB; /export FILE saves it all) via the terminal (OSC 52)")
    leave(child)
    payload = base64.b64encode(reply[:100_000].encode()).decode()
    assert f"\x1b]52;c;{payload}\x07" in received(child)[before:]


def test_the_gauge_follows_undo_and_history_renders_like_a_reply(
    server: ScriptedServer, talkline_home: Path
) -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    long_words = " ".join(f"word{i:03d}" for i in range(60))  # longer than one row
    server.script(Reply(f"# Big heading\n\nSome **bold** text.\n\n{long_words}", usage=usage),
                  Reply("Second reply", usage={**usage, "total_tokens": 4100}))
    child = spawn(server, talkline_home)
    child.expect_exact(READY)
    child.sendline("first")
    child.expect_exact("1.5k/128k>")
    child.sendline("second")
    child.expect_exact("4.1k/128k>")
    child.sendline("/undo")
    child.expect_exact("Dropped the last exchange")
    child.expect_exact(READY)
    rows = screen_rows(received(child))
    assert rows[-1] != "4.1k/128k>" and rows[-1].endswith("/128k>")  # counted again
    assert not rows[-1].startswith("1.5k")  # the server's count was prompt + reply
    child.sendline("second")
    child.expect_exact(READY)
    before = len(received(child))
    child.sendline("/history")
    leave(child)
    history = screen_rows(received(child)[before:])
    text = "\n".join(history)
    assert "# Big heading" not in text and "**bold**" not in text  # rendered, not raw
    assert "Some bold text." in text
    words = text.split()
    assert all(f"word{i:03d}" in words for i in range(60))  # wrapped between words only
    assert [row.strip() for row in history if row.strip().endswith(":")][:4] == [
        "user:", "assistant:", "user:", "assistant:"]
