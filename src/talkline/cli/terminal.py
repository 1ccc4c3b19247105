"""The one object that writes to the terminal: answers to stdout, everything else to stderr.

Text that came from a server is sanitised before it reaches a TTY. Piped output keeps the
answer byte for byte (unless `--sanitize`), and is written once complete by default, so a
retried stream never leaves a partial copy in a file.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from typing import IO, Any

from ..errors import TalklineError
from .sanitize import sanitize

__all__ = ["Terminal"]


def _cells(text: str) -> int:
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


class Terminal:
    def __init__(
        self,
        *,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        sanitize_pipe: bool = False,
        force_stream: bool = False,
    ) -> None:
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self.out_tty = _isatty(self.out)
        self.err_tty = _isatty(self.err)
        self.color = self.err_tty and not os.environ.get("NO_COLOR")
        self.sanitize_pipe = sanitize_pipe
        # Incremental writing: always on a TTY; on a pipe only when asked (--stream).
        self.incremental = self.out_tty or force_stream
        self._written = ""  # the answer text shown so far on a TTY, to erase on a retry

    # -- answers (stdout)

    def clean(self, text: str) -> str:
        return sanitize(text) if (self.out_tty or self.sanitize_pipe) else text

    def write_answer(self, text: str) -> None:
        if not text:
            return
        text = self.clean(text)
        self.out.write(text)
        self.out.flush()
        if self.out_tty:
            self._written += text

    def end_answer(self) -> None:
        if self._written and not self._written.endswith("\n"):
            self.out.write("\n")
        elif not self.out_tty:
            self.out.write("\n")
        self.out.flush()
        self._written = ""

    def erase_answer(self) -> None:
        """Remove a partial answer from the screen before the retried one is shown."""
        if not self._written:
            return
        if not self.out_tty:
            return
        cols, rows = _size(self.out)
        lines = self._written.split("\n")
        height = sum(max(1, -(-_cells(line) // cols)) for line in lines) - 1
        if height < rows - 1:
            up = f"\x1b[{height}A" if height else ""
            self.out.write(f"\r{up}\x1b[J")
        else:
            # Taller than the screen: what scrolled away cannot be erased; mark it.
            self.out.write("\n")
            self.status("[the partial answer above was cut off; the retried answer follows]")
        self.out.flush()
        self._written = ""

    def write_json(self, data: Any) -> None:
        import json

        self.out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        self.out.flush()

    def write_line(self, text: str = "") -> None:
        self.out.write(self.clean(text) + "\n")
        self.out.flush()

    # -- status (stderr)

    def _styled(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def status(self, text: str) -> None:
        self.err.write(self._styled(sanitize(text), "2") + "\n")
        self.err.flush()

    def warn(self, text: str) -> None:
        self.err.write(self._styled(sanitize(text), "33") + "\n")
        self.err.flush()

    def error(self, exc: BaseException | str) -> None:
        if isinstance(exc, TalklineError):
            text = str(exc)
        else:
            text = str(exc)
        first, _, rest = sanitize(text).partition("\n")
        self.err.write(self._styled(f"Error: {first}", "31") + "\n")
        if rest:
            self.err.write(rest + "\n")
        self.err.flush()

    def table(self, rows: list[dict[str, Any]], columns: list[str]) -> None:
        """A plain aligned table (no rich needed for a few columns)."""
        cells = [[sanitize(str(r.get(c, "") if r.get(c) is not None else "")) for c in columns]
                 for r in rows]
        widths = [max([len(c)] + [_cells(row[i]) for row in cells])
                  for i, c in enumerate(columns)]
        header = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
        self.out.write(header.rstrip() + "\n")
        for row in cells:
            line = "  ".join(v + " " * (w - _cells(v)) for v, w in zip(row, widths, strict=True))
            self.out.write(line.rstrip() + "\n")
        self.out.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _size(stream: IO[str]) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(stream.fileno())
        return max(size.columns, 1), max(size.lines, 1)
    except (OSError, ValueError, AttributeError):
        return 80, 24
