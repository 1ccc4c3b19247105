"""What a Client reports while it works (a retry, a fallback), as lines on stderr.

The messages are built from the events' fields, never from the wording of another message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...client import FallbackEvent
    from ...retry import RetryEvent
    from .terminal import Terminal

__all__ = ["Progress", "fallback_message", "retry_message"]


def short_error(error: BaseException) -> str:
    """An error's first line, without its final full stop, at most 160 characters."""
    return str(error).split("\n", 1)[0].rstrip(".")[:160]


def retry_message(event: RetryEvent) -> str:
    """`connection dropped after 12 tokens; retried (attempt 2 of 3)` for a stream that
    broke after showing text; `<short error>; retrying in 1.5s (attempt 2 of 3)` else."""
    attempt = f"(attempt {event.attempt + 1} of {event.max_attempts})"
    after_tokens = event.after_tokens
    if after_tokens is not None:
        from ...errors import APIError, StreamInterrupted

        error = event.error
        cause = error.cause if isinstance(error, StreamInterrupted) else error
        what = (f"the server sent an error after {after_tokens} tokens ({cause.message})"
                if isinstance(cause, APIError)
                else f"connection dropped after {after_tokens} tokens")
        return f"{what}; retried {attempt}"
    return f"{short_error(event.error)}; retrying in {event.delay:.1f}s {attempt}"


def fallback_message(event: FallbackEvent) -> str:
    return (f"{event.from_model} failed ({short_error(event.error)}); "
            f"falling back to {event.to_model}")


@dataclass(frozen=True)
class Progress:
    """`on_retry` and `on_fallback` for a Client, writing to one Terminal."""

    term: Terminal

    def on_retry(self, event: RetryEvent) -> None:
        self.term.status(retry_message(event))

    def on_fallback(self, event: FallbackEvent) -> None:
        self.term.warn(fallback_message(event))
