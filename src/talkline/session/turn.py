"""One exchange being streamed: deltas in, the stored reply finished when it ends.

While it streams, the text so far is checkpointed to the stored reply at least once a
second (`CHECKPOINT_EVERY`), so a process killed mid-stream leaves what was shown in the
store. A store that cannot be written (a full disk) never stops the answer: the failure
is kept in `store_error` and the caller shows the answer, then `not_stored_notice()`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import (
    ContextLengthExceededError,
    SchemaValidationError,
    StreamInterrupted,
    TalklineError,
)
from ..types import ChatDelta, ChatResponse, Message

if TYPE_CHECKING:
    from ..client import ChatStream
    from ..planning.preflight import Prepared as Prepared
    from ._replies import Completion as Completion
    from .conversation import ChatSession as ChatSession

__all__ = ["CHECKPOINT_EVERY", "Turn"]

CHECKPOINT_EVERY = 1.0  # seconds between checkpoints of a streaming reply


@dataclass
class Turn:
    """One exchange being streamed. Iterate for deltas; `response` once it completed."""

    session: ChatSession
    stream: ChatStream | Completion
    reply_id: int | None
    started: float = field(default_factory=time.monotonic)
    response: ChatResponse | None = None
    status: str = "pending"
    text: str = ""
    reasoning: str = ""  # the reasoning text so far, stored apart from the answer
    prefix: str = ""  # a continued reply: the partial text it continues
    continues: Message | None = None  # ... and the partial reply it takes the place of
    replaces: int | None = None  # the stored partial reply, put back if this one fails
    prepared: Prepared | None = None
    notices: list[str] = field(default_factory=list)
    cost: Any = None  # talkline.usage.Cost of a completed reply, when priced
    store_error: TalklineError | None = None  # the reply could not be stored
    checkpointed: float = field(default_factory=time.monotonic)

    def __iter__(self) -> Iterator[ChatDelta]:
        try:
            try:
                yield from self._deltas()
            except ContextLengthExceededError as exc:
                # The server still found the prompt too long: trim with its numbers, once.
                if self.text or self.prepared is None:
                    raise
                self.stream, self.prepared = self.session._after_refusal(self, exc)
                yield from self._deltas()
        except StreamInterrupted as exc:
            self.status = "interrupted"
            self.session._finish_reply(self, error=str(exc), partial=exc.partial or self.text)
            raise
        except TalklineError as exc:
            self.status = "error"
            rejected = exc.response if isinstance(exc, SchemaValidationError) else None
            self.session._finish_reply(self, error=str(exc), partial=self.text,
                                       rejected=rejected)
            raise
        except BaseException:  # Ctrl-C, or the caller stopped reading
            self.status = "interrupted"
            self.session._finish_reply(self, error="interrupted", partial=self.text)
            raise
        self.response = self.stream.response
        self.status = "complete"
        self.session._finish_reply(self)

    def _deltas(self) -> Iterator[ChatDelta]:
        for delta in self.stream:
            if delta.restart and delta.index == 0:
                self.text = self.reasoning = ""
            elif delta.index == 0:
                self.text += delta.content
                self.reasoning += delta.reasoning
            if time.monotonic() - self.checkpointed >= CHECKPOINT_EVERY:
                self.checkpointed = time.monotonic()
                self.session._checkpoint(self)
            yield delta

    def not_stored_notice(self) -> str | None:
        """What to say when the reply could not be stored (None when it was)."""
        if self.store_error is None:
            return None
        error = self.store_error
        hint = f" {error.hint}" if error.hint else ""
        return (f"Warning: the answer could not be stored: {error.message}{hint} "
                "It is shown here but is not in `talkline history`: copy it now if you "
                "need it.")

    def until_done(self) -> ChatResponse:
        for _ in self:
            pass
        assert self.response is not None
        return self.response
