"""Type-ahead while a reply streams: keep what is typed out of the answer's lines.

In the terminal's usual (cooked) mode the keys typed during a reply are echoed where the
answer is being drawn and corrupt it. `TypeAhead.capture()` switches echo and line editing
off for the length of a reply (signals stay on, so Ctrl-C still stops it) and leaves the
typed bytes in the terminal's input queue; at the end, also on Ctrl-C or an error, it
reads them, restores the terminal as it was, and keeps the text for the next prompt.

Only on a real terminal: with stdin a pipe nothing changes.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

__all__ = ["TypeAhead", "edit_keys"]

# Escape sequences of arrow, function and other special keys: not text, dropped.
_KEY_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|O.|.)?", re.DOTALL)


def edit_keys(typed: str) -> str:
    """The text that `typed` keys leave in a line: backspace deletes, Ctrl-U and Ctrl-W
    erase, special keys and other control characters are dropped, Enter is a newline
    (trailing ones removed: the line is offered for editing, not sent)."""
    text: list[str] = []
    for ch in _KEY_SEQUENCE.sub("", typed.replace("\r\n", "\n").replace("\r", "\n")):
        if ch in "\x7f\x08":
            if text:
                text.pop()
        elif ch == "\x15":  # Ctrl-U
            while text and text[-1] != "\n":
                text.pop()
        elif ch == "\x17":  # Ctrl-W: the word before the cursor
            while text and text[-1] == " ":
                text.pop()
            while text and text[-1] not in " \n":
                text.pop()
        elif ch == "\n" or ch == "\t" or ch >= " ":
            text.append(ch)
    return "".join(text).rstrip("\n")


class TypeAhead:
    """Captures keys typed during a reply; `take()` returns them once, as text."""

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stdin
        self.enabled = enabled  # off when nothing would show the text (no line editor)
        self._pending = ""

    def take(self) -> str:
        text, self._pending = edit_keys(self._pending), ""
        return text

    @contextmanager
    def capture(self) -> Iterator[None]:
        try:
            fd = self.stream.fileno()
            active = os.isatty(fd)
        except (AttributeError, ValueError, OSError):
            active = False
        if not (active and self.enabled) or sys.platform == "win32":
            yield
            return
        import termios

        try:
            saved = termios.tcgetattr(fd)
        except termios.error:
            yield
            return
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~(termios.ECHO | termios.ICANON)  # ISIG stays: Ctrl-C still interrupts
        quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 0, 0
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        try:
            yield
        finally:
            try:
                self._pending += _read_pending(fd)
            finally:
                termios.tcsetattr(fd, termios.TCSANOW, saved)


def _read_pending(fd: int) -> str:
    """What sits in the terminal's input queue, without waiting for more."""
    import select

    data = b""
    while select.select([fd], [], [], 0)[0]:
        try:
            chunk = os.read(fd, 4096)
        except (BlockingIOError, InterruptedError):
            break
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", errors="ignore")
