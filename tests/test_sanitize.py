"""Output cannot attack the terminal: every escape class is neutralised and shown, in rich
and plain TTY modes; piped output stays byte for byte unless --sanitize."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from talkline.cli.output.sanitize import (
    UNSAFE,
    StreamSanitizer,
    is_safe,
    sanitize,
    sanitize_markdown,
)
from talkline.cli.output.terminal import Terminal
from talkline.testing import Error, Reply, ScriptedServer

from .clihelp import SRC

# One reply holding every escape class, in prose, inline code, a code block, a table and a
# list, plus numeric character references that markdown would decode.
EVIL = (
    "CSI colour \x1b[31mred\x1b[0m, 8-bit CSI \x9b2J, cursor home \x1b[H, clear \x1b[2J.\n"
    "OSC 8 \x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\ and "
    "OSC 52 \x1b]52;c;ZWNobyBwd25lZA==\x07 and title \x1b]0;pwned\x1b\\ and 8-bit OSC "
    "\x9d0;t\x9c.\n"
    "DCS \x1bP1$r\x1b\\, C1 \x85\x8d\x90\x9f, BEL \x07, NUL \x00, DEL \x7f, VT \x0b, FF \x0c.\n"
    "Backspace: password\x08\x08\x08\x08\x08\x08\x08\x08********, CR: safe\roverwritten.\n"
    "Bidi: \u202eevil\u202c \u2066isolate\u2069 \u202a\u202b\u202d\u2067\u2068.\n"
    "Entities: &#x202E; &#8238; &#27; &#x9b; &#13; &#x1b;[31m.\n"
    "\n"
    "`inline \x1b[5mblink` and **bold \x1b]52;c;eA==\x07**\n"
    "\n"
    "```sh\n"
    "echo \x1b[2J\x1b[H \x07 \x9b31m \u202e\n"
    "```\n"
    "\n"
    "| a \x1b[31m | b |\n|---|---|\n| \x07 | \u202e |\n"
    "\n"
    "- item \x1b]8;;http://x\x07link\x1b]8;;\x07\n"
    "\n"
    "[text \x1b[1m](http://evil.example/\x1b[2J) done"
)

# What a TTY may receive from us: SGR styling, and the live region's cursor-up,
# carriage return and erase-below. Nothing else.
ALLOWED = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\d+A|\r\x1b\[J|\x1b\[2K")
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def assert_harmless(output: str) -> None:
    leftover = ALLOWED.sub("", output)
    assert RAW.search(leftover) is None, repr(RAW.search(leftover))


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# -- the pure functions


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "␛[31mred␛[0m"),
        ("\x1b]52;c;SGk=\x07", "␛]52;c;SGk=␇"),
        ("\x1b]8;;https://x/\x1b\\t\x1b]8;;\x1b\\", "␛]8;;https://x/␛\\t␛]8;;␛\\"),
        ("\x9b2J", "<U+009B>2J"),
        ("ab\x08\x08cd", "ab␈␈cd"),
        ("a\rb", "a␍b"),
        ("a\r\nb", "a\nb"),
        ("\u202eabc\u2069", "<U+202E>abc<U+2069>"),
        ("\x00\x7f\x85", "␀␡<U+0085>"),
        ("tab\tand\nnewline \u200f kept", "tab\tand\nnewline \u200f kept"),
    ],
)
def test_sanitize_shows_each_escape_class(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown
    assert is_safe(shown)


def test_sanitize_markdown_keeps_character_references_from_decoding() -> None:
    assert (
        sanitize_markdown("&#x202E; &#8238; &#13; &#27;") == "&amp;#x202E; &amp;#8238; "
        "&amp;#13; &amp;#27;"
    )
    assert sanitize_markdown("&#x41; &#233; &amp; &#x1F600;") == "&#x41; &#233; &amp; &#x1F600;"


@given(st.text(), st.integers(min_value=1, max_value=7))
def test_stream_sanitizer_matches_sanitize_whatever_the_pieces(text: str, size: int) -> None:
    stream = StreamSanitizer()
    out = "".join(stream.feed(p) for p in pieces(text, size)) + stream.flush()
    assert out == sanitize(text)
    assert UNSAFE.search(out) is None


# -- through the Terminal


def rich_terminal(width: int = 70) -> tuple[Terminal, FakeTTY, FakeTTY]:
    out, err = FakeTTY(), FakeTTY()
    console = Console(
        file=out, force_terminal=True, width=width, height=20, color_system="truecolor"
    )
    return Terminal(stdout=out, stderr=err, plain=False, console=console), out, err


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_rich_tty_mode_lets_no_escape_through(size: int) -> None:
    term, out, _ = rich_terminal()
    assert term.rich
    for piece in pieces(EVIL, size):
        term.write_answer(piece)
    term.end_answer()
    output = out.getvalue()
    assert_harmless(output)
    assert "\x1b]" not in output  # no OSC at all: not even hyperlinks of our own
    visible = re.sub(r"\x1b\[[0-9;]*[mAJK]|\r", "", output)
    for token in (
        "␛[31mred",
        "<U+009B>2J",
        "␛]52;c;ZWNobyBwd25lZA==␇",
        "␛]0;pwned␛",
        "␈␈␈",
        "safe␍overwritten",
        "<U+202E>evil<U+202C>",
        "&#x202E;",
        "&#13;",
        "␛[2J␛[H ␇",
        "␛[5mblink",
        "␀",
        "␡",
        "<U+0085>",
    ):
        assert token in visible, token


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_plain_tty_mode_writes_no_escape_sequence_at_all(size: int) -> None:
    out, err = FakeTTY(), FakeTTY()
    term = Terminal(stdout=out, stderr=err, plain=True)
    assert not term.rich and term.plain
    for piece in pieces(EVIL, size):
        term.write_answer(piece)
    term.end_answer()
    output = out.getvalue()
    assert RAW.search(output) is None and "\x1b" not in output
    assert output == sanitize(EVIL) + "\n"


def test_no_color_means_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    term = Terminal(stdout=FakeTTY(), stderr=FakeTTY())
    assert term.plain and not term.rich and not term.color


def test_piped_output_is_byte_exact_and_sanitize_cleans_it() -> None:
    out, err = io.StringIO(), io.StringIO()
    term = Terminal(stdout=out, stderr=err)
    for piece in pieces(EVIL, 3):
        term.write_answer(piece)
    term.end_answer()
    assert out.getvalue() == EVIL + "\n"

    out = io.StringIO()
    term = Terminal(stdout=out, stderr=err, sanitize_pipe=True)
    for piece in pieces(EVIL, 3):
        term.write_answer(piece)
    term.end_answer()
    assert out.getvalue() == sanitize(EVIL) + "\n"


@pytest.mark.parametrize("mode", ["rich", "plain", "pipe"])
def test_status_warnings_errors_and_json_are_clean(mode: str) -> None:
    if mode == "rich":
        term, out, err = rich_terminal()
    else:
        out, err = (FakeTTY(), FakeTTY()) if mode == "plain" else (io.StringIO(), io.StringIO())
        term = Terminal(stdout=out, stderr=err, plain=mode == "plain")
    term.status("answered by gpt-\x1b]0;x\x07evil (fallback)")
    term.warn("model \u202eliam\u202c failed")
    term.error("Bad \x1b[2J request\nsecond \x07 line")
    term.table([{"id": "m\x1b[31m", "n": "\u202e"}], ["id", "n"])
    assert_harmless(err.getvalue())
    assert "␛]0;x␇evil" in err.getvalue() and "second ␇ line" in err.getvalue()
    term.write_json({"content": EVIL})
    if mode == "pipe":
        assert '"content": ' in out.getvalue()
    else:
        assert_harmless(out.getvalue())
        assert "\\u202e" in out.getvalue()


# -- through the real command


def run_bytes(server: ScriptedServer, home: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    import os

    env = dict(
        os.environ,
        PYTHONPATH=SRC,
        OPENAI_API_KEY="sk-test-fake",
        OPENAI_BASE_URL=server.url,
        TALKLINE_HOME=home,
    )
    return subprocess.run(
        [sys.executable, "-m", "talkline", *args],
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_cli_pipe_is_byte_exact_and_sanitize_flag_cleans(server, talkline_home) -> None:
    server.script(Reply(content=EVIL, chunk_size=3), Reply(content=EVIL, chunk_size=3))
    r = run_bytes(server, str(talkline_home), "go")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (EVIL + "\n").encode()
    r = run_bytes(server, str(talkline_home), "--sanitize", "go")
    assert r.stdout == (sanitize(EVIL) + "\n").encode()


def test_cli_error_messages_from_the_server_are_clean(server, talkline_home) -> None:
    server.script(Error(status=400, message="bad \x1b]52;c;eA==\x07 \u202eevil", type="x"))
    r = run_bytes(server, str(talkline_home), "go")
    assert r.returncode == 1
    err = r.stderr.decode()
    assert_harmless(err)
    assert "␛]52;c;eA==␇" in err
