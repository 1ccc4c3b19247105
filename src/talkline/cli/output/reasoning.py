"""A reply's reasoning text, shown apart from the answer: on stderr, never stdout.

It streams as it arrives under a `thinking` header, dim on a colour terminal, sanitised
like any server text, and ends with a blank line before the answer starts. When stderr is
not a terminal it is written the same way without escape sequences (a user who pipes the
answer somewhere still sees what the model thought; `2>/dev/null` or `--hide-reasoning`
drops it). Reasoning that arrives after the answer began is held and shown once the
answer ended, so it never cuts into the answer's lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .sanitize import StreamSanitizer

if TYPE_CHECKING:
    from .terminal import Terminal

__all__ = ["HEADER", "ReasoningView"]

HEADER = "thinking"


class ReasoningView:
    """One reply's reasoning on `term`'s stderr; `hidden`: shown nowhere."""

    def __init__(self, term: Terminal, *, hidden: bool = False) -> None:
        self.term = term
        self.hidden = hidden
        self._open = False  # the header is out, the block not yet closed
        self._line_start = True
        self._held: list[str] = []
        self._sanitizer = StreamSanitizer()

    def feed(self, text: str, *, answer_started: bool = False) -> None:
        """A piece of reasoning, shown now (or held while the answer is being written)."""
        if self.hidden or not text:
            return
        if answer_started:
            self._held.append(text)
            return
        self._write(text)

    def close(self) -> None:
        """The answer starts (or the reply ended): close the block with a blank line."""
        if not self._open:
            return
        tail = self._sanitizer.flush()
        if tail:
            self._emit(tail)
        self._raw("\n\n" if not self._line_start else "\n")
        self._open = False

    def finish(self) -> None:
        """The reply ended: what was held, then the block closed."""
        held, self._held = "".join(self._held), []
        if held:
            self._write(held)
        self.close()

    def restart(self) -> None:
        """A retried stream: what follows is a new reply's reasoning, under a new header."""
        self.close()
        self._held = []
        self._sanitizer = StreamSanitizer()

    def _write(self, text: str) -> None:
        term = self.term
        if not self._open:
            term.pause_spinner()
            term.out.flush()
            self._raw(term.dim(HEADER) + "\n")
            self._open, self._line_start = True, True
        self._emit(self._sanitizer.feed(text))

    def _emit(self, text: str) -> None:
        if text:
            self._raw(self.term.dim(text))
            self._line_start = text.endswith("\n")

    def _raw(self, text: str) -> None:
        self.term.err.write(text)
        self.term.err.flush()
