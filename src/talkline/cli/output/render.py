"""Streaming markdown for the terminal: finished blocks go to the scrollback once, and only
the block in progress is redrawn.

`MarkdownStream(console)` takes the reply in deltas (`feed`). `BlockSplitter` (in
`_blocks`) says when a block is complete; a complete block is rendered once with rich's
`Markdown` (code highlighted by language) and written below what came before, never to be
touched again. The block in progress (the tail) is drawn under it in a live region:

- its rendering is cropped to the screen height minus a margin, and its source to the
  last screenful of lines, so a redraw costs O(screen), not O(reply);
- redraws are throttled: a delta costs the splitter's O(delta) work, plus the one
  rendering of each block it completes; the tail is redrawn at most 20 times a second
  (`refresh_interval`), less often when redrawing would take more than 5% of a core (a
  screenful of highlighted code), and a background thread draws the latest tail when the
  stream pauses;
- after each draw the cursor is parked at the top of the live region, so clearing it is
  `CR` + erase-below, whatever the terminal did in between (a resize that reflowed the
  lines, a `^C` echo). The region never reaches the top of the screen, so the scrollback
  only ever receives committed blocks.

Blocks are separated as rich separates them in a whole document (a blank line, none
between items of one list, none after a rule), so for the same text the stream prints what
`console.print(Markdown(text))` prints, with two documented differences:
- list items are committed one at a time (a long list does not sit in the live region);
  an ordered item keeps its number, but its number column is as wide as rich would make it
  for a one-item list starting at that number. Lists of up to 8 items are identical; from
  the 9th item on, rich's whole-list rendering would have widened every item's column;
- links are shown as `text (url)`, never as OSC 8 hyperlinks, whose target is invisible.

Every piece of text is sanitised before rich sees it (`sanitize_markdown`), and every
rendered segment is checked again on its way out, so no control character or escape
sequence from the model reaches the terminal. Only rich's own styling and our cursor
movement do.

On a console that is not a terminal (tests writing to a string), there is no live region:
only committed blocks are written, which makes the output exact and comparable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from markdown_it import MarkdownIt
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markdown import Markdown
from rich.segment import Segment

from ._blocks import Block, BlockSplitter
from .sanitize import UNSAFE, sanitize, sanitize_markdown

__all__ = ["MarkdownStream", "render_markdown"]

_ERASE = "\r\x1b[J"  # to column 0, clear to the end of the screen
_REDRAW_SHARE = 0.05  # most of a core that redrawing the tail may take

# Blocks that hold other blocks. rich's Markdown puts a blank line before them even at the
# start of a document or after a rule (it remembers the last nested element closed), and
# so does the stream, except between items of one list.
_CONTAINERS = frozenset({"item", "table", "quote"})


class _Clean:
    """Renders a renderable, sanitising any text segment that still holds a control."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        search = UNSAFE.search
        for segment in console.render(self.renderable, options):
            if segment.control is None and search(segment.text) is not None:
                yield Segment(sanitize(segment.text), segment.style)
            else:
                yield segment


_template: dict[str, Any] = {}
_parser: list[MarkdownIt] = []


def _markdown(text: str, code_theme: str) -> Markdown:
    """rich's `Markdown(text, code_theme, hyperlinks=False)`, with one shared parser.

    rich builds a new markdown-it parser for every instance, which costs more than parsing
    a paragraph; a stream renders a thousand blocks. The instance is rich's own, its
    attributes copied from one built by rich, so only `markup` and `parsed` are ours.
    """
    if not _parser:
        _template.update(vars(Markdown("", code_theme=code_theme, hyperlinks=False)))
        _parser.append(MarkdownIt().enable("strikethrough").enable("table"))
    markdown = Markdown.__new__(Markdown)
    vars(markdown).update(_template)
    markdown.markup = text
    markdown.parsed = _parser[0].parse(text)
    markdown.code_theme = markdown.inline_code_theme = code_theme
    return markdown


def render_markdown(
    console: Console, block: Block, *, code_theme: str = "monokai", separated: bool = False
) -> str:
    """One block rendered for `console`, as the text to write (ends with a newline)."""
    markdown = _markdown(sanitize_markdown(block.text), code_theme)
    if block.number is not None:
        for token in markdown.parsed:
            if token.type == "ordered_list_open":
                token.attrs["start"] = block.number
                break
    with console.capture() as capture:
        console.print(_Clean(markdown))
    text = capture.get()
    if block.kind in _CONTAINERS:
        text = text.removeprefix("\n")  # rich's own separator, see _CONTAINERS
    return "\n" + text if separated else text


class MarkdownStream:
    """Render a markdown reply that arrives in deltas. See the module docstring.

    `live`: draw the block in progress (default: when the console is a terminal).
    `refresh_interval`: least seconds between two redraws of it (0: at every delta;
    costly redraws are spaced further apart, see the module docstring).
    `margin`: screen rows the live region leaves free.
    """

    def __init__(
        self,
        console: Console,
        *,
        code_theme: str = "monokai",
        live: bool | None = None,
        refresh_interval: float = 1 / 20,
        margin: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.code_theme = code_theme
        self.live = console.is_terminal if live is None else live
        self.refresh_interval = refresh_interval
        self._interval = refresh_interval
        self.margin = margin
        self._clock = clock
        self._splitter = BlockSplitter()
        self._pending: list[Block] = []  # complete, not written yet
        self._last: Block | None = None  # the last block written
        self._tail_rows = 0  # rows of the live region on screen (the cursor is at its top)
        self._drawn_at = float("-inf")
        self._dirty = False  # the tail on screen is not the latest
        self._closed = False
        self._cond = threading.Condition(threading.RLock())
        self._ticker: threading.Thread | None = None

    @property
    def committed(self) -> bool:
        """Whether some block has reached the scrollback (it can no longer be erased)."""
        return self._last is not None

    def feed(self, text: str) -> None:
        """Add a delta: commit the blocks it completes, and redraw the tail if it is time."""
        if not text:
            return
        with self._cond:
            if self._closed:
                raise RuntimeError("MarkdownStream.feed after finish() or clear()")
            self._pending += self._splitter.feed(text)
            if self.live and self._clock() - self._drawn_at >= self._interval:
                self._flush(tail=True)
                return
            if self._pending:
                self._flush(tail=False)  # the tail comes back with the next frame
            if self.live and not self._dirty:
                # Wake the ticker only when the tail just became stale: waking it at every
                # delta would cost a thread switch per token.
                self._dirty = True
                self._start_ticker()

    def finish(self) -> None:
        """The reply is complete (or cut short): commit the block in progress as it is."""
        with self._cond:
            if self._closed:
                return
            self._pending += self._splitter.finish()
            self._flush(tail=False)
            self._close()
        self._join_ticker()

    def clear(self) -> None:
        """Drop the block in progress from the screen (a retried stream starts again).

        Committed blocks are in the scrollback and stay; see `committed`.
        """
        with self._cond:
            if self._closed:
                return
            self._pending.clear()
            self._flush(tail=False)
            self._close()
        self._join_ticker()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hide the live region while something else writes to the terminal."""
        with self._cond:
            self._flush(tail=False)
            try:
                yield
            finally:
                if not self._closed and self.live:
                    self._flush(tail=True)

    # -- drawing

    def _flush(self, *, tail: bool) -> None:
        """One write: clear the live region, the pending blocks, and the tail if `tail`.

        State changes only once the write is done, so a Ctrl-C in the middle (rendering
        takes most of the time) loses nothing: `finish` writes what is still pending.
        """
        parts = [_ERASE] if self._tail_rows else []
        last = self._last
        for block in self._pending:
            parts.append(self._render(block, last))
            last = block
        rows = 0
        if tail and self.live:
            started = time.thread_time()
            drawing, rows = self._draw_tail(last)
            parts.append(drawing)
            # A tail that is costly to draw (a screenful of highlighted code) is drawn less
            # often, so that redrawing never takes more than _REDRAW_SHARE of a core.
            if self.refresh_interval:
                cost = time.thread_time() - started
                self._interval = max(self.refresh_interval, cost / _REDRAW_SHARE)
        self._write("".join(parts))
        self._last = last
        self._pending.clear()
        self._tail_rows = rows
        if tail:
            self._dirty = False
            self._drawn_at = self._clock()

    def _render(self, block: Block, last: Block | None) -> str:
        if block.kind in _CONTAINERS:
            separated = not block.joins
        else:
            separated = last is not None and last.kind != "hr"
        return render_markdown(self.console, block, code_theme=self.code_theme, separated=separated)

    def _draw_tail(self, last: Block | None) -> tuple[str, int]:
        """The block in progress, cropped to the screen, and the rows it takes."""
        width, height = self.console.size
        rows = max(1, height - self.margin)
        block = self._splitter.tail(max_lines=rows, max_chars=rows * width)
        if block is None:
            return "", 0
        lines = self._render(block, last).split("\n")
        if lines and not lines[-1]:
            lines.pop()
        lines = lines[-rows:]
        if not lines:
            return "", 0
        return "\n".join(lines) + f"\n\x1b[{len(lines)}A", len(lines)

    def _write(self, text: str) -> None:
        if text:
            file = self.console.file
            file.write(text)
            file.flush()

    # -- the ticker: draws the latest tail when deltas stop coming for a while

    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="talkline-render", daemon=True)
            self._ticker.start()
        else:
            self._cond.notify()

    def _tick(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._dirty:
                    self._cond.wait()
                    continue
                wait = self._drawn_at + self._interval - self._clock()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                try:
                    self._flush(tail=True)
                except (OSError, ValueError):  # the terminal went away
                    return

    def _close(self) -> None:
        self._closed = True
        self._dirty = False
        self._cond.notify_all()

    def _join_ticker(self) -> None:
        ticker = self._ticker
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join(1.0)
