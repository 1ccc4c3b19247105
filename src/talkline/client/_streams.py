"""What `stream()` returns: the deltas to iterate, and the whole response once they end.

Both twins hand the response back the same way: the client's driver sets `response` when
the call is done (`Client._drive`, `AsyncClient._drive`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from ..types import ChatDelta, ChatResponse

__all__ = ["AsyncChatStream", "ChatStream"]


class ChatStream:
    """Iterate for `ChatDelta`s; `response` holds the whole answer once the loop ends.

    A delta with `restart=True` means the stream broke and was retried: drop the text of
    that choice received so far.
    """

    def __init__(self, run: Callable[[ChatStream], Iterator[ChatDelta]]) -> None:
        """`run(self)` yields the deltas and sets `self.response` at the end."""
        self.response: ChatResponse | None = None
        self._deltas = run(self)

    def __iter__(self) -> Iterator[ChatDelta]:
        return self._deltas

    def __next__(self) -> ChatDelta:
        return next(self._deltas)

    def close(self) -> None:
        close = getattr(self._deltas, "close", None)
        if close is not None:
            close()

    def until_done(self) -> ChatResponse:
        for _ in self:
            pass
        assert self.response is not None
        return self.response

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncChatStream:
    """The asynchronous twin of `ChatStream`."""

    def __init__(self, run: Callable[[AsyncChatStream], AsyncIterator[ChatDelta]]) -> None:
        """`run(self)` yields the deltas and sets `self.response` at the end."""
        self.response: ChatResponse | None = None
        self._deltas = run(self)

    def __aiter__(self) -> AsyncIterator[ChatDelta]:
        return self._deltas

    async def __anext__(self) -> ChatDelta:
        return await self._deltas.__anext__()

    async def aclose(self) -> None:
        close = getattr(self._deltas, "aclose", None)
        if close is not None:
            await close()

    async def until_done(self) -> ChatResponse:
        async for _ in self:
            pass
        assert self.response is not None
        return self.response

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
