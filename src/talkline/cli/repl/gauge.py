"""The REPL's window gauge, `4.1k/128k> `: how much of the model's context window the
conversation takes, as the next request would send it.

After a completed reply the server's own count (`usage.total_tokens`: the prompt it read
plus the reply it wrote) is used, less the reasoning tokens it reports: reasoning is never
sent back, so it takes no room in the next request. Otherwise (after /undo, /new,
/system, /model, an error or Ctrl-C) the active history is counted: an interrupted partial
reply is not sent back, so it is not counted either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...session.conversation import ChatSession
    from ...session.turn import Turn

__all__ = ["format_tokens", "window_gauge"]


def format_tokens(n: int) -> str:
    """`999`, `1k`, `1.5k`, `4.1k`, `128k`, `1M`, `1.5M`: one decimal at most, no `.0`."""
    for size, unit in ((1_000_000, "M"), (1000, "k")):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + unit
    return str(n)


def window_gauge(session: ChatSession, turn: Turn | None = None) -> str | None:
    """`4.1k/128k`, or None when the model's window is unknown or nothing is sent yet.

    `turn`: the turn that just ended, if one did (its usage is the server's count).
    """
    limits = session.preflight.window(session.model)
    if limits is None:
        return None
    used: int | None = None
    response = turn.response if turn is not None and turn.status == "complete" else None
    if response is not None and response.usage is not None and response.usage.total_tokens:
        used = max(0, response.usage.total_tokens - response.usage.reasoning_tokens)
    else:
        messages = session.request_messages()
        if not messages:
            return None
        used = session.preflight.counter.count_messages(messages, session.model).tokens
    return f"{format_tokens(used)}/{format_tokens(limits[0])}"
