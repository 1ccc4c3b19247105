"""Stop a small model that loops: the same line over and over until the window is full.

`RepeatGuard` sits on a stream of text pieces. When the same non-blank line of at least
`min_chars` characters comes `times` times in a row (blank lines between them ignored), it
stops: the text up to and including the line's first occurrence is kept, the repeats are
dropped. Text that might turn out to be a repeat is held back until it is known not to be,
so nothing dropped is ever shown. Pure: no I/O, no clock.
"""

from __future__ import annotations

__all__ = ["RepeatGuard"]


class RepeatGuard:
    """`feed(piece)` returns the text safe to show now; `finish()` the rest at the end.
    After `stopped` turns True, `feed` returns "" and generation should end."""

    def __init__(self, *, min_chars: int = 20, times: int = 3) -> None:
        if min_chars < 1 or times < 2:
            raise ValueError("min_chars must be >= 1 and times >= 2")
        self.min_chars = min_chars
        self.times = times
        self.stopped = False
        self._last = ""  # the last complete non-blank line, stripped
        self._count = 0  # how many times in a row it came
        self._held = ""  # complete lines held back: repeats of _last (and blanks between)
        self._line = ""  # the line being written
        self._shown = 0  # characters of _line already returned

    def _watching(self) -> bool:
        return len(self._last) >= self.min_chars

    def feed(self, piece: str) -> str:
        if self.stopped or not piece:
            return ""
        out: list[str] = []
        self._line += piece
        while not self.stopped and "\n" in self._line:
            line, self._line = self._line.split("\n", 1)
            out.append(self._complete(line + "\n"))
            self._shown = 0
        if not self.stopped:
            out.append(self._partial())
        return "".join(out)

    def finish(self) -> str:
        """The text still held back, once the stream ended by itself."""
        if self.stopped:
            return ""
        rest = self._held + self._line[self._shown:]
        self._held, self._line, self._shown = "", "", 0
        return rest

    def _partial(self) -> str:
        """Show the line being written unless it may still become a repeat."""
        text = self._line.strip()
        if self._shown == 0 and self._watching() and self._last.startswith(text):
            return ""  # blank so far, or a prefix of the last line: wait
        out = self._held + self._line[self._shown:]
        self._held, self._shown = "", len(self._line)
        return out

    def _complete(self, line: str) -> str:
        text = line.strip()
        rest = line[self._shown:]
        if not text:
            if self._held:
                self._held += rest
                return ""
            return rest
        if self._shown == 0 and text == self._last and self._watching():
            self._count += 1
            if self._count >= self.times:
                self.stopped = True
                self._held = ""
                return ""
            self._held += rest
            return ""
        out = self._held + rest
        self._held = ""
        self._last, self._count = text, 1
        return out
