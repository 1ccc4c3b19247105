"""One answer, from a turn to the terminal: used by the one-shot command and the REPL.

`show_answer` prints the turn's notices, spins while waiting for the first token, writes
each piece as it arrives (`live`) or lets the caller show the whole response at the end,
erases a partial answer when the stream is retried, marks Ctrl-C `[interrupted]`, ends the
answer and lists its tool calls; shows the reasoning apart, on stderr (see `reasoning`),
unless `hide_reasoning`; then warns when the answer was cut off by the token
limit or stopped by the content filter, and says how to run tool calls left unanswered.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING

from ...errors import StreamInterrupted, TalklineError
from .reasoning import ReasoningView
from .toolcalls import TOOL_CALLS_NOTICE, end_reply

if TYPE_CHECKING:
    from ...session.turn import Turn
    from ...types import ChatResponse
    from .terminal import Terminal

__all__ = ["CONTENT_FILTER_WARNING", "cut_off_warning", "show_answer"]

CONTENT_FILTER_WARNING = ("Warning: the answer was stopped by the provider's content filter. "
                          "Rephrase the request to get an answer.")


def cut_off_warning(hint: str, choice: int | None = None) -> str:
    which = f" (choice {choice})" if choice is not None else ""
    return (f"Warning: the answer{which} was cut off by the token limit "
            f"(finish_reason: length). {hint}")


def show_answer(
    term: Terminal,
    turn: Turn,
    *,
    live: bool,
    cut_off_hint: str,
    show_whole: Callable[[ChatResponse], None] | None = None,
    end_on_error: bool = False,
    tool_calls_notice: bool = True,
    hide_reasoning: bool = False,
) -> ChatResponse | None:
    """Stream `turn` to `term` and return its response.

    `live`: write each piece as it arrives (else `show_whole` gets the response at the
    end). `end_on_error`: close the answer's line on any error (the REPL goes on), not only
    on a broken stream. Errors are raised again once the terminal is tidy.
    """
    told = _notices(term, turn, 0)
    thinking = ReasoningView(term, hidden=hide_reasoning)
    started = False  # the answer's first piece was written
    try:
        with term.spinner() if live else nullcontext():
            for delta in turn:
                if delta.restart:
                    thinking.restart()
                    started = False
                elif delta.index == 0:
                    thinking.feed(delta.reasoning, answer_started=started)
                    if delta.tool_calls:  # a tool may ask for approval next
                        thinking.close()
                if not live:
                    continue
                if delta.restart:
                    term.erase_answer()
                elif delta.index == 0 and delta.content:
                    if not started:
                        thinking.close()
                        started = True
                    term.write_answer(delta.content)
    except KeyboardInterrupt:
        thinking.close()
        if live:
            term.interrupt_answer()
        raise
    except StreamInterrupted:
        thinking.close()
        if live:
            term.end_answer()
        raise
    except TalklineError:
        thinking.close()
        if live and end_on_error:
            term.end_answer()
        raise
    if not live:
        thinking.finish()
    response = turn.response
    if response is None:
        if live:
            term.end_answer()
        return None
    if live:
        end_reply(term, response.message)
        thinking.finish()
    elif show_whole is not None:
        show_whole(response)
    _notices(term, turn, told)
    several = len(response.choices) > 1
    for choice in response.choices:
        if choice.finish_reason == "length":
            term.warn(cut_off_warning(cut_off_hint, choice.index + 1 if several else None))
        elif choice.finish_reason == "content_filter":
            term.warn(CONTENT_FILTER_WARNING)
    if tool_calls_notice and any(c.finish_reason == "tool_calls" for c in response.choices):
        term.status(TOOL_CALLS_NOTICE)
    return response


def _notices(term: Terminal, turn: Turn, start: int) -> int:
    """The notices from `start` on (a retry after the server refused the prompt as too
    long adds one while the answer streams); how many there are now."""
    for notice in turn.notices[start:]:
        term.status(notice)
    return len(turn.notices)
