"""Inline reasoning moved out of an answer (pure, no I/O): `ThinkSplitter`, `split_think`.

Some models (DeepSeek R1 and its distillations, Qwen3, served raw) open their reply with
`<think> ... </think>` and then answer. That block is reasoning, not the answer: it is
taken out of the content and handed on as reasoning. Only a block at the very start of
the reply counts (whitespace before it is allowed): a reply that talks about `<think>`
tags later, or starts with anything else, is left exactly as it came.

Pieces of a stream are fed as they arrive, so a tag split across pieces (`<thi` + `nk>`)
is still a tag: the splitter holds back only what may still turn out to be part of one.
A block that never closes before the stream ends is all reasoning. The whitespace right
after the opening tag and between the closing tag and the answer is dropped.
"""

from __future__ import annotations

__all__ = ["CLOSE", "OPEN", "ThinkSplitter", "split_think"]

OPEN = "<think>"
CLOSE = "</think>"


def _held_tail(text: str, tag: str) -> int:
    """The length of the longest end of `text` that is the start of `tag`."""
    for n in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class ThinkSplitter:
    """One reply's content in, (reasoning, content) pieces out."""

    def __init__(self) -> None:
        self._state = "start"  # start -> think -> after -> answer; or start -> answer
        self._held = ""

    def feed(self, text: str) -> tuple[str, str]:
        """The reasoning and the content that `text` completes (either may be empty)."""
        if self._state == "answer":
            return "", text
        buf = self._held + text
        self._held = ""
        reasoning = ""
        if self._state == "start":
            start = buf.lstrip()
            if not start or (len(start) < len(OPEN) and OPEN.startswith(start)):
                self._held = buf  # only whitespace, or maybe the opening tag: wait
                return "", ""
            if not start.startswith(OPEN):
                self._state = "answer"
                return "", buf
            self._state, buf = "think", start[len(OPEN):].lstrip()
            if not buf:
                return "", ""
        if self._state == "think":
            end = buf.find(CLOSE)
            if end < 0:
                keep = _held_tail(buf, CLOSE)
                self._held = buf[len(buf) - keep:] if keep else ""
                return buf[:len(buf) - keep], ""
            reasoning, buf = buf[:end], buf[end + len(CLOSE):]
            self._state = "after"
        # after the closing tag: the whitespace before the answer is dropped
        buf = buf.lstrip()
        if buf:
            self._state = "answer"
        return reasoning, buf

    def flush(self) -> tuple[str, str]:
        """The end of the reply: what was held back, as reasoning or as content."""
        held, self._held = self._held, ""
        if self._state == "think":
            return held, ""
        return "", held

    @property
    def thinking(self) -> bool:
        """Inside a `<think>` block still open."""
        return self._state == "think"


def split_think(text: str) -> tuple[str, str]:
    """A whole reply as (reasoning, answer): ("", text) when it opens with no block."""
    splitter = ThinkSplitter()
    reasoning, content = splitter.feed(text)
    more_reasoning, more_content = splitter.flush()
    return reasoning + more_reasoning, content + more_content
