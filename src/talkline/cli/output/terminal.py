"""The one object that writes to the terminal: answers to stdout, everything else to stderr.

Three ways to show an answer:
- rich (stdout is a TTY, not plain): markdown rendered as it streams (`render.MarkdownStream`):
  finished blocks go to the scrollback once, only the block in progress is redrawn;
- plain TTY (`plain=True`, `NO_COLOR`, `TERM=dumb`, or `markdown=False`): the text as it
  arrives, sanitised, with no escape sequences at all;
- pipe (stdout is not a TTY): the answer byte for byte (sanitised only with
  `sanitize_pipe`), written once complete unless `force_stream`, so a retried stream never
  leaves a partial copy in a file.

Text from a server (answers, error messages, model names) never reaches a TTY with control
characters or escape sequences: see `sanitize`. Status lines, warnings, errors and the
spinner go to stderr, so they never mix into the answer on stdout.

A retried stream (`erase_answer`): in rich mode the block in progress is cleared; blocks
already committed are in the scrollback and cannot be taken back, so a dim notice line says
that the answer below replaces them. Plain mode (no escapes) prints that notice too.

`import talkline.cli.output.terminal` stays cheap: rich is imported only to render markdown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from .sanitize import UNSAFE, StreamSanitizer, sanitize

if TYPE_CHECKING:
    import threading

    from rich.console import Console

    from .render import MarkdownStream as MarkdownStream

__all__ = ["Terminal"]

RETRY_NOTICE = "[retrying: the partial answer above is replaced below]"
INTERRUPTED = "[interrupted]"


class Terminal:
    """All output of a command. `plain=None` decides from the environment (see module)."""

    def __init__(
        self,
        *,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        sanitize_pipe: bool = False,
        force_stream: bool = False,
        plain: bool | None = None,
        markdown: bool = True,
        code_theme: str = "monokai",
        console: Console | None = None,
    ) -> None:
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self.out_tty = _isatty(self.out)
        self.err_tty = _isatty(self.err)
        no_color = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
        self.plain = (no_color or not self.out_tty) if plain is None else plain
        self.color = self.err_tty and not no_color and not plain
        # Markdown rendering: only on a TTY, never in plain mode.
        self.rich = self.out_tty and not self.plain and markdown
        self.sanitize_pipe = sanitize_pipe
        self.code_theme = code_theme
        # Incremental writing: always on a TTY; on a pipe only when asked (--stream).
        self.incremental = self.out_tty or force_stream
        self._console = console
        self._stream: MarkdownStream | None = None
        self._sanitizer = StreamSanitizer()
        self._open = False  # an answer is being written
        self._line_start = True  # stdout's cursor is at the start of a line
        self._spinner: _Spinner | None = None

    # -- answers (stdout)

    def clean(self, text: str) -> str:
        return sanitize(text) if (self.out_tty or self.sanitize_pipe) else text

    def write_answer(self, text: str) -> None:
        """A piece of the answer, as it arrives."""
        self._stop_spinner()
        if not text:
            return
        if self.rich:
            if self._stream is None:
                self._stream = self._markdown_stream()
            self._stream.feed(text)
            self._open = True
            return
        if self.out_tty or self.sanitize_pipe:
            text = self._sanitizer.feed(text)
        self._open = True
        self._out(text)

    def end_answer(self) -> None:
        """The answer is complete: commit what is shown, end its line."""
        self._stop_spinner()
        if self.rich:
            if self._stream is not None:
                self._stream.finish()
                self._stream = None
            self._open = False
            return
        self._out(self._sanitizer.flush())
        if self.out_tty:
            if self._open and not self._line_start:
                self._out("\n")
        else:
            self._out("\n")
        self._open = False

    def interrupt_answer(self) -> None:
        """Ctrl-C: keep the partial answer as shown so far and mark it interrupted."""
        self._stop_spinner()
        if self.incremental:
            self.end_answer()
        self.warn(INTERRUPTED)

    def erase_answer(self) -> None:
        """A retried stream: remove the partial answer shown so far, as far as possible."""
        self._stop_spinner()
        if self.rich:
            stream, self._stream = self._stream, None
            if stream is not None:
                stream.clear()
                if stream.committed:
                    self.status(RETRY_NOTICE)
        elif self.out_tty and self._open:
            self._out(self._sanitizer.flush())
            if not self._line_start:
                self._out("\n")
            self.status(RETRY_NOTICE)
        self._sanitizer = StreamSanitizer()
        self._open = False

    def write_markdown(self, text: str) -> None:
        """A whole answer at once (history, several choices): rendered in rich mode."""
        self._stop_spinner()
        if self.rich:
            stream = self._markdown_stream(live=False)
            stream.feed(text)
            stream.finish()
            return
        self.write_answer(text)
        self.end_answer()

    def write_json(self, data: object) -> None:
        import json

        self._stop_spinner()
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if self.out_tty or self.sanitize_pipe:
            # json leaves DEL, C1 controls and bidi overrides raw; \uXXXX means the same.
            text = UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
        self._out(text + "\n")

    def write_text(self, text: str) -> None:
        """A whole document (an export) to stdout: as it is on a pipe, sanitised on a TTY."""
        self._stop_spinner()
        self._out(self.clean(text))

    def write_line(self, text: str = "") -> None:
        self._stop_spinner()
        self._out(self.clean(text) + "\n")

    def write_heading(self, text: str) -> None:
        """A heading line above a block of answer text (/history's role lines)."""
        self._stop_spinner()
        text = self.clean(text)
        self._out((f"\x1b[1m{text}\x1b[0m" if self.rich else text) + "\n")

    def write_control(self, sequence: str) -> bool:
        """A control sequence that talkline composed itself (never server text, so not
        sanitised), e.g. OSC 52 for /copy. False when no stream is a terminal."""
        self._stop_spinner()
        for stream, tty in ((self.out, self.out_tty), (self.err, self.err_tty)):
            if tty:
                stream.flush()
                stream.write(sequence)
                stream.flush()
                return True
        return False

    # -- status (stderr)

    def _styled(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def _err_line(self, text: str) -> None:
        if self._spinner is not None:
            self.out.flush()
            self._spinner.above(text)
            return
        if self._stream is not None:
            with self._stream.paused():
                self.err.write(text + "\n")
                self.err.flush()
            return
        if self.out_tty and self._open and not self._line_start:
            self._out("\n")  # do not glue a status line to the answer's last line
        self.out.flush()
        self.err.write(text + "\n")
        self.err.flush()

    def dim(self, text: str) -> str:
        """`text` dim on a colour terminal (stderr), as it is elsewhere."""
        return self._styled(text, "2")

    def status(self, text: str) -> None:
        self._err_line(self._styled(sanitize(text), "2"))

    def warn(self, text: str) -> None:
        self._err_line(self._styled(sanitize(text), "33"))

    def error(self, exc: BaseException | str) -> None:
        first, _, rest = sanitize(str(exc)).partition("\n")
        self._err_line(self._styled(f"Error: {first}", "31") + ("\n" + rest if rest else ""))

    @contextmanager
    def spinner(self, text: str = "waiting for the answer") -> Iterator[None]:
        """A spinner on stderr while waiting for the first token (stderr a TTY, not plain).

        It stops at the first write to stdout, or when the block ends; status lines and
        warnings meanwhile are printed above it.
        """
        if not self.err_tty or self.plain or self._spinner is not None:
            yield
            return
        self._spinner = _Spinner(self.err, sanitize(text), color=self.color)
        self._spinner.start()
        try:
            yield
        finally:
            self._stop_spinner()

    def table(self, rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> None:
        """A plain aligned table (no rich needed for a few columns)."""
        from rich.cells import cell_len

        self._stop_spinner()
        cells = [
            [sanitize(str(r.get(c, "") if r.get(c) is not None else "")) for c in columns]
            for r in rows
        ]
        widths = [
            max([cell_len(c)] + [cell_len(row[i]) for row in cells]) for i, c in enumerate(columns)
        ]
        header = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
        lines = [header.rstrip()]
        for row in cells:
            pads = zip(row, widths, strict=True)
            lines.append("  ".join(v + " " * (w - cell_len(v)) for v, w in pads).rstrip())
        self._out("\n".join(lines) + "\n")

    # -- internals

    def _out(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self._line_start = text.endswith("\n")

    def _markdown_stream(self, *, live: bool | None = None) -> MarkdownStream:
        from .render import MarkdownStream as MarkdownStream

        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.out, force_terminal=True, highlight=False, markup=False, emoji=False
            )
        return MarkdownStream(self._console, code_theme=self.code_theme, live=live)

    def pause_spinner(self) -> None:
        """Stop the spinner now (a question is about to be asked on the terminal)."""
        self._stop_spinner()

    def _stop_spinner(self) -> None:
        spinner, self._spinner = self._spinner, None
        if spinner is not None:
            spinner.stop()


class _Spinner:
    """A one-line spinner drawn on stderr by a thread; `stop` erases it, `above` prints a
    line above it (a retry notice while waiting) and lets it spin on."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(
        self,
        stream: IO[str],
        text: str,
        *,
        color: bool,
        delay: float = 0.15,
        interval: float = 0.08,
    ) -> None:
        import threading

        self.stream = stream
        self.text = text
        self.color = color
        self.delay = delay
        self.interval = interval
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._shown = False

    def start(self) -> None:
        import threading

        self._thread = threading.Thread(target=self._run, name="talkline-spinner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._stopped.wait(self.delay):
            return
        text = self.text[: max(0, _size(self.stream)[0] - 3)]  # one line, never wrapped
        i = 0
        while True:
            frame = f"{self.FRAMES[i % len(self.FRAMES)]} {text}"
            if self.color:
                frame = f"\x1b[2m{frame}\x1b[0m"
            with self._lock:
                if self._stopped.is_set():
                    return
                try:
                    self.stream.write("\r" + frame)
                    self.stream.flush()
                except (OSError, ValueError):
                    return
                self._shown = True
            i += 1
            if self._stopped.wait(self.interval):
                return

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._shown = False

    def above(self, line: str) -> None:
        with self._lock:
            self._clear()
            self.stream.write(line + "\n")
            self.stream.flush()

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            self._clear()
        thread: threading.Thread | None = self._thread
        if thread is not None:
            thread.join()


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
