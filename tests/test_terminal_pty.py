"""The real `talkline "prompt"` in a pseudo-terminal (pexpect) against the scripted server,
its output replayed through a terminal emulator with scrollback (pyte): what the user's
screen and scrollback hold at the end."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pexpect
import pyte
import pytest

from talkline.testing import Fault, Reply, ScriptedServer

from .clihelp import SRC

ROWS, COLS = 30, 100


def spawn(server: ScriptedServer, home: Path, *args: str, **env: str) -> pexpect.spawn:
    full = dict(os.environ)
    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE"):
        full.pop(name, None)
    full.update(
        PYTHONPATH=SRC,
        OPENAI_API_KEY="sk-test-fake",
        OPENAI_BASE_URL=server.url,
        TALKLINE_HOME=str(home),
        TERM="xterm-256color",
        **env,
    )
    child = pexpect.spawn(
        sys.executable,
        ["-m", "talkline", *args],
        env=full,
        encoding="utf-8",
        timeout=60,
        dimensions=(ROWS, COLS),
    )
    child.logfile_read = io.StringIO()  # everything the terminal received
    return child


def received(child: pexpect.spawn) -> str:
    return child.logfile_read.getvalue()  # type: ignore[no-any-return]


class Emulator:
    """A terminal with unbounded scrollback."""

    def __init__(self) -> None:
        self.screen = pyte.HistoryScreen(COLS, ROWS, history=1_000_000)
        self.stream = pyte.Stream(self.screen)

    def feed(self, text: str) -> None:
        self.stream.feed(text)

    def resize(self, rows: int, cols: int) -> None:
        self.screen.resize(rows, cols)

    def rows(self) -> list[str]:
        cols = self.screen.columns
        rows = [
            "".join(line[x].data for x in range(cols)).rstrip() for line in self.screen.history.top
        ]
        rows += [line.rstrip() for line in self.screen.display]
        while rows and not rows[-1]:
            rows.pop()
        return rows


def two_thousand_lines() -> tuple[str, list[str]]:
    """A markdown reply of 2,000 lines, every content line carrying a unique marker."""
    lines: list[str] = []
    n = 0

    def mark() -> str:
        nonlocal n
        n += 1
        return f"M{n:04d}"

    part = 0
    while len(lines) < 2000:
        part += 1
        lines += [f"## Part {part} {mark()}", "", f"Some **bold** text {mark()} here.", ""]
        lines += [f"- item {mark()}", f"  - nested {mark()}", f"- item {mark()}", ""]
        lines += ["```python"] + [f"x = {part}  # {mark()}" for _ in range(4)] + ["```", ""]
        lines += ["| col | val |", "|-----|-----|", f"| {mark()} | 1 |", f"| {mark()} | 2 |", ""]
        lines += [f"1. step {mark()}", f"2. step {mark()}", ""]
    lines = lines[:2000]
    markers = [m for line in lines for m in re.findall(r"M\d{4}", line)]
    return "\n".join(lines), markers


def test_a_2000_line_reply_lands_in_the_scrollback_once_and_in_order(
    server: ScriptedServer, talkline_home: Path
) -> None:
    text, markers = two_thousand_lines()
    server.script(Reply(content=text, chunk_size=13))
    child = spawn(server, talkline_home, "write it all")
    output = child.read()
    child.close()
    assert child.exitstatus == 0, output[-2000:]
    term = Emulator()
    term.feed(output)
    rows = term.rows()
    transcript = "\n".join(rows)
    found = re.findall(r"M\d{4}", transcript)
    assert found == markers  # every line once, in order: nothing lost, nothing doubled
    assert len(text.split("\n")) == 2000 and len(markers) > 1100
    # It was rendered, not dumped: no markdown syntax left, code and tables drawn by rich.
    assert not any(row.startswith(("## ", "```", "| col")) for row in rows)
    assert any(re.fullmatch(r" x = \d+  # M\d{4}", row) for row in rows)
    assert any(re.fullmatch(r" • item M\d{4}", row) for row in rows)


def test_ctrl_c_keeps_the_partial_reply_and_marks_it(
    server: ScriptedServer, talkline_home: Path
) -> None:
    server.script(
        Fault.stall(
            after_chunks=100, seconds=20, content="# Title\n\nFirst paragraph.\n\nStill typing this"
        )
    )
    child = spawn(server, talkline_home, "go")
    child.expect_exact("typing")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    term = Emulator()
    term.feed(received(child))
    rows = [row.strip() for row in term.rows()]
    assert rows.count("Title") == 1 and rows.count("First paragraph.") == 1
    assert rows.count("Still typing this") == 1  # the tail, committed as it was shown
    assert any("[interrupted]" in row for row in rows)


@pytest.mark.parametrize("new_cols", [60, 140])
def test_resize_mid_stream_and_a_retry_leave_no_debris(
    server: ScriptedServer, talkline_home: Path, new_cols: int
) -> None:
    partial = "Committed block.\n\n```text\n" + "".join(f"tail line {i}\n" for i in range(8))
    server.script(
        Fault.stall(after_chunks=100, seconds=1.5, content=partial + "x" * 50),
        Reply(content="Committed block.\n\nThe retried answer " + "word " * 40 + "\n"),
    )
    child = spawn(server, talkline_home, "--retries", "2", "go")
    term = Emulator()
    child.expect_exact("tail line 7")
    child.expect(r"\x1b\[\d+A")  # the live region was drawn and the cursor parked
    before = received(child)
    term.feed(before)
    child.setwinsize(ROWS, new_cols)
    term.resize(ROWS, new_cols)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, received(child)
    term.feed(received(child)[len(before) :])
    rows = term.rows()
    transcript = "\n".join(rows)
    assert transcript.count("tail line") == 0  # the erased live region left nothing behind
    assert transcript.count("Committed block.") == 2  # scrollback keeps it; the retry repeats
    assert "[retrying: the partial answer above is replaced below]" in transcript
    words = transcript.split("The retried answer", 1)[1].split()
    assert words.count("word") == 40
