"""One exchange being streamed: deltas in, the stored reply finished when it ends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ContextLengthExceededError, StreamInterrupted, TalklineError
from ..types import ChatDelta, ChatResponse, Message

if TYPE_CHECKING:
    from ..client import ChatStream
    from ..planning.preflight import Prepared as Prepared
    from ._replies import Completion as Completion
    from .conversation import ChatSession as ChatSession

__all__ = ["Turn"]


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
    prefix: str = ""  # a continued reply: the partial text it continues
    continues: Message | None = None  # ... and the partial reply it takes the place of
    replaces: int | None = None  # the stored partial reply, put back if this one fails
    prepared: Prepared | None = None
    notices: list[str] = field(default_factory=list)
    cost: Any = None  # talkline.usage.Cost of a completed reply, when priced

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
            self.session._finish_reply(self, error=str(exc), partial=self.text)
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
                self.text = ""
            elif delta.index == 0 and delta.content:
                self.text += delta.content
            yield delta

    def until_done(self) -> ChatResponse:
        for _ in self:
            pass
        assert self.response is not None
        return self.response
