"""The REPL's input: prompt_toolkit on a terminal (history, completion of the slash
commands, Esc-Enter for a new line, Ctrl-C), plain lines from a pipe."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from .words import COMMANDS

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyPressEvent

__all__ = ["Line", "LineReader"]


class _CtrlC:
    """What the input reader returns for Ctrl-C at an empty prompt."""


_CTRL_C = _CtrlC()
Line = str | _CtrlC | None  # a line, Ctrl-C, or the end of input


class LineReader:
    """Reads one message: prompt_toolkit with history, completion and multi-line input
    when stdin is a terminal; plain lines otherwise."""

    def __init__(self, history_path: str | None, names: list[str] | None = None) -> None:
        self.tty = sys.stdin.isatty() and sys.stdout.isatty()
        self._session: PromptSession[str | _CtrlC] | None = None
        if self.tty:
            self._session = self._make_session(history_path, names or [])

    @staticmethod
    def _make_session(history_path: str | None, names: list[str]
                      ) -> PromptSession[str | _CtrlC]:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings

        kb = KeyBindings()

        @kb.add("escape", "enter")
        def _newline(event: KeyPressEvent) -> None:
            event.current_buffer.insert_text("\n")

        @kb.add("c-c")
        def _interrupt(event: KeyPressEvent) -> None:
            buffer = event.current_buffer
            if buffer.text:
                buffer.reset()
            else:
                event.app.exit(result=_CTRL_C)

        history: History = InMemoryHistory()
        if history_path:
            fd = os.open(history_path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
            os.close(fd)
            os.chmod(history_path, 0o600)
            history = FileHistory(history_path)
        from .complete import SlashCompleter

        completer = SlashCompleter(COMMANDS, names)
        return PromptSession(history=history, key_bindings=kb, completer=completer,
                             complete_while_typing=False, enable_history_search=True)

    def read(self, prompt: str = "> ", continuation: bool = False, default: str = "") -> Line:
        """A line of text, `_CTRL_C`, or None at end of input (Ctrl-D). `default`: text
        the line starts with (what was typed ahead during a reply)."""
        if self._session is not None:
            try:
                return self._session.prompt("... " if continuation else prompt,
                                            default=default)
            except EOFError:
                return None
        line = sys.stdin.readline()
        return None if line == "" else line.rstrip("\n")

