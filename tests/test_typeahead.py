"""Keys typed during a reply, turned into the text the next prompt starts with."""

from __future__ import annotations

import contextlib
import io
import os
import select
import time

import pytest

from talkline.cli.repl.typeahead import TypeAhead, edit_keys


@pytest.mark.parametrize(
    ("typed", "text"),
    [
        ("next question", "next question"),
        ("next question\r", "next question"),  # Enter: offered for editing, not sent
        ("nexd\x7ft", "next"),  # backspace
        ("nex\x08xt", "next"),
        ("wrong words\x15right", "right"),  # Ctrl-U
        ("one two\x17three", "one three"),  # Ctrl-W
        ("up\x1b[A and\x1bOB keys\x1b[1;5C", "up and keys"),  # special keys are dropped
        ("bell\x07 and \x00nul", "bell and nul"),
        ("two\rlines\r\r", "two\nlines"),
        ("café ✓", "café ✓"),
        ("", ""),
    ],
)
def test_edit_keys(typed: str, text: str) -> None:
    assert edit_keys(typed) == text


def test_not_a_terminal_changes_nothing_and_takes_nothing() -> None:
    ahead = TypeAhead(io.StringIO("typed into a pipe"))
    with ahead.capture():
        pass
    assert ahead.take() == ""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize("interrupted", [False, True])
def test_capture_on_a_pseudo_terminal_hides_keys_and_restores_the_mode(interrupted: bool) -> None:
    import termios

    master, slave = os.openpty()
    try:
        tty = os.fdopen(slave, "r", closefd=False)
        before = termios.tcgetattr(slave)
        ahead = TypeAhead(tty)
        with contextlib.suppress(KeyboardInterrupt), ahead.capture():
            mode = termios.tcgetattr(slave)[3]
            assert not mode & termios.ECHO and not mode & termios.ICANON
            assert mode & termios.ISIG  # Ctrl-C still stops a reply
            os.write(master, "typed ahead ✓".encode())
            time.sleep(0.2)
            if interrupted:
                raise KeyboardInterrupt
        assert termios.tcgetattr(slave) == before
        assert ahead.take() == "typed ahead ✓"
        assert ahead.take() == ""  # once
        assert select.select([master], [], [], 0.2)[0] == []  # nothing was echoed
    finally:
        os.close(master)
        os.close(slave)
