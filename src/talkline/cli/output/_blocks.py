"""Split streamed markdown into complete top-level blocks (pure, no I/O, no rich).

`BlockSplitter.feed(delta)` returns the blocks that the delta completed; `tail()` is the
block still in progress (what a terminal redraws); `finish()` ends the text. It is an
incremental state machine over lines: each line is looked at once, when its newline
arrives, so the work per delta is proportional to the delta and never to the reply.

When a block is complete (CommonMark rules, simplified where replies do not go):
- a paragraph: at a blank line, or when a heading, fence, rule, quote, list or table
  interrupts it; a setext underline (`===`, `---`) turns it into a heading, complete at once;
- an ATX heading (`# ...`) or a rule (`---`, `***`): at its newline;
- a fenced code block: at its closing fence;
- an indented code block, a block quote or a table: at the first line that is not theirs;
- a list item (with everything nested in it): when the next item of its list, or anything
  that is not part of it, begins. Items are committed one by one; `Block.joins` says that an
  item continues the list of the block before it (no blank line between them), and
  `Block.number` carries an ordered item's number (the list's start plus its position), so a
  renderer can number items it sees one at a time.

Link reference definitions (`[x]: url`) only apply within their own block.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._lines import (
    _ATX,
    _HR,
    _QUOTE,
    _QUOTE_PREFIX,
    _SETEXT,
    _blank,
    _closes_fence,
    _delimiter_columns,
    _expand,
    _header_columns,
    _indent,
    _interrupts_paragraph,
    _Marker,
    _marker,
    _opens_fence,
)

__all__ = ["Block", "BlockSplitter"]


@dataclass(frozen=True)
class Block:
    """One top-level markdown block.

    `kind` is one of paragraph, heading, fence, code (indented), table, quote, item, hr.
    """

    kind: str
    text: str
    number: int | None = None  # an ordered list item's number
    joins: bool = False  # a list item that continues the list of the block before it


class BlockSplitter:
    """Incremental markdown block splitter. See the module docstring."""

    def __init__(self) -> None:
        self._partial: list[str] = []  # the unfinished last line, in pieces
        self._done: list[Block] = []  # completed, not returned yet
        self._lines: list[str] = []  # the block in progress
        self._kind = ""  # its kind; "" between blocks
        self._blank = False  # the last line of the block in progress was blank
        self._fence: tuple[str, int] = ("", 0)  # a fence open at top level or inside an item
        self._item_indent = 0  # where an item's content starts
        self._empty = False  # the item has nothing after its marker yet
        self._list_key = ""
        self._number: int | None = None
        self._joins = False

    # -- public

    def feed(self, text: str) -> list[Block]:
        """Add a delta; return the blocks it completed, in order.

        Completed blocks are kept until returned, so a KeyboardInterrupt in the middle of a
        call loses none: the next call returns them.
        """
        start = 0
        while True:
            end = text.find("\n", start)
            if end < 0:
                if start < len(text):
                    self._partial.append(text[start:])
                break
            self._partial.append(text[start:end])
            line = "".join(self._partial)
            self._partial.clear()
            self._line(line.removesuffix("\r"), self._done)
            start = end + 1
        done, self._done = self._done, []
        return done

    def finish(self) -> list[Block]:
        """End of the text: complete whatever is in progress."""
        if self._partial:
            line = "".join(self._partial)
            self._partial.clear()
            self._line(line, self._done)
        if self._kind:
            self._commit(self._done)
        done, self._done = self._done, []
        return done

    def tail(self, max_lines: int = 0, max_chars: int = 0) -> Block | None:
        """The block in progress, with the unfinished line; None when there is none.

        With `max_lines`, only the last lines are kept (plus a fence's opening line or a
        table's header, so it still renders as one); with `max_chars`, each line is cut to
        its last characters. That bounds the cost of redrawing it by the screen size.
        """
        partial = ""
        if self._partial:
            partial = "".join(self._partial)
            self._partial[:] = [partial]
        kind = self._kind
        if kind:
            lines = [*self._lines, partial] if partial else self._lines
        elif _blank(partial):
            return None
        else:
            lines = [partial]
            kind = "item" if _marker(partial) else "paragraph"
        if max_lines and len(lines) > max_lines:
            head = {"fence": 1, "table": 2, "item": 1}.get(kind, 0)
            lines = lines[:head] + lines[len(lines) - max_lines + head :]
        if max_chars:
            lines = [line if len(line) <= max_chars else line[-max_chars:] for line in lines]
        item = kind == "item" and bool(self._kind)
        return Block(
            kind,
            "\n".join(lines),
            number=self._number if item else None,
            joins=self._joins if item else False,
        )

    # -- states

    def _line(self, line: str, done: list[Block]) -> None:
        kind = self._kind
        if kind == "fence":
            self._lines.append(line)
            if _closes_fence(line, self._fence):
                self._commit(done)
        elif kind == "paragraph":
            self._paragraph_line(line, done)
        elif kind == "item":
            self._item_line(line, done)
        elif kind == "table":
            if _blank(line):
                self._commit(done)
            elif _indent(line) >= 4 or self._starts_block(line) or _marker(line):
                self._commit(done)
                self._start(line, done)
            else:
                self._lines.append(line)
        elif kind == "quote":
            self._quote_line(line, done)
        elif kind == "code":
            if _blank(line) or _indent(line) >= 4:
                self._lines.append(line)
            else:
                self._commit(done)
                self._start(line, done)
        else:
            self._start(line, done)

    def _start(self, line: str, done: list[Block]) -> None:
        """A line between blocks."""
        if _blank(line):
            return
        if _indent(line) >= 4:
            self._begin("code", line)
            return
        fence = _opens_fence(line)
        if fence is not None:
            self._begin("fence", line)
            self._fence = fence
        elif _ATX.match(line):
            done.append(Block("heading", line))
        elif _HR.match(line):
            done.append(Block("hr", line))
        elif _QUOTE.match(line):
            self._begin("quote", line)
        else:
            mk = _marker(line)
            if mk is not None:
                self._begin_item(mk, line, joins=False, number=mk.number)
            else:
                self._begin("paragraph", line)

    def _paragraph_line(self, line: str, done: list[Block]) -> None:
        if _blank(line):
            self._commit(done)
            return
        columns = _delimiter_columns(line)
        if columns and _header_columns(self._lines[-1]) == columns:
            header = self._lines.pop()
            if self._lines:
                self._commit(done)
            self._begin("table", header)
            self._lines.append(line)
            return
        if _SETEXT.match(line):
            self._lines.append(line)
            self._kind = "heading"
            self._commit(done)
            return
        if _interrupts_paragraph(line):
            self._commit(done)
            self._start(line, done)
            return
        self._lines.append(line)

    def _item_line(self, line: str, done: list[Block]) -> None:
        if _blank(line):
            self._lines.append(line)
            self._blank = True
            return
        indent = _indent(line)
        if indent >= self._item_indent and not (self._empty and self._blank):
            self._empty = False
            self._lines.append(line)
            self._blank = False
            self._track_fence(_expand(line)[self._item_indent :])
            return
        if not _HR.match(line):
            mk = _marker(line)
            if mk is not None:
                same = mk.key == self._list_key
                number = mk.number
                if same and self._number is not None:
                    number = self._number + 1
                self._commit(done)
                self._begin_item(mk, line, joins=same, number=number)
                return
            lazy = not (self._blank or self._empty or self._fence[0] or _interrupts_paragraph(line))
            if lazy:
                self._lines.append(line)
                return
        self._commit(done)
        self._start(line, done)

    def _quote_line(self, line: str, done: list[Block]) -> None:
        if _blank(line):
            self._commit(done)
            return
        if _QUOTE.match(line):
            self._lines.append(line)
            return
        last = _QUOTE_PREFIX.sub("", self._lines[-1], count=1)
        # markdown-it lets any list item end a quote, even one that could not interrupt
        # a paragraph.
        ends = _interrupts_paragraph(line) or (_indent(line) < 4 and _marker(line) is not None)
        if _blank(last) or ends or _opens_fence(last):
            self._commit(done)
            self._start(line, done)
            return
        self._lines.append(line)  # a lazy continuation of the quoted paragraph

    # -- helpers

    @staticmethod
    def _starts_block(line: str) -> bool:
        return bool(_opens_fence(line) or _ATX.match(line) or _HR.match(line) or _QUOTE.match(line))

    def _track_fence(self, content: str) -> None:
        """Follow fences inside a list item: their lines cannot be lazy continuations."""
        if self._fence[0]:
            if _closes_fence(content.strip(), self._fence):
                self._fence = ("", 0)
        else:
            fence = _opens_fence(content.strip())
            if fence is not None:
                self._fence = fence

    def _begin(self, kind: str, line: str) -> None:
        self._kind = kind
        self._lines = [line]
        self._blank = False
        self._fence = ("", 0)

    def _begin_item(self, mk: _Marker, line: str, *, joins: bool, number: int | None) -> None:
        self._begin("item", line)
        # An empty item has no paragraph to continue lazily, and ends at a blank line.
        self._empty = mk.empty
        self._item_indent = mk.content_indent
        self._list_key = mk.key
        self._number = number
        self._joins = joins
        self._track_fence(mk.content)

    def _commit(self, done: list[Block]) -> None:
        lines = self._lines
        while lines and _blank(lines[-1]):
            lines.pop()
        kind = self._kind
        if lines:
            item = kind == "item"
            done.append(
                Block(
                    kind,
                    "\n".join(lines),
                    number=self._number if item else None,
                    joins=self._joins if item else False,
                )
            )
        self._kind = ""
        self._lines = []
        self._blank = False
        self._fence = ("", 0)
