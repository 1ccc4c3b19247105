"""`complete_text`: a text completion (`POST /completions`) through the one loop of
`_plan` (retries, rate limits, the deadline, fallbacks), and what a streamed one returns:
`TextStream` (`AsyncTextStream`), the shape of `ChatStream`, with `TextDelta`s and a
`TextCompletion`. No I/O here: the twins' drivers run the plan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..types import Message
from ..types.completions import CompletionOptions, TextCompletion, TextDelta
from ..wire.completions import refuse_engines
from ._core import Core
from ._plan import Plan, plan
from ._streams import AsyncChatStream, ChatStream

__all__ = ["AsyncTextStream", "TextStream", "text_plan"]


def text_plan(core: Core, prompt: str, model: str | None, options: dict[str, Any],
              sampling: dict[str, Any], *, stream: bool) -> Plan:
    """The plan of one completion: `options` are `CompletionOptions`' fields (echo,
    logprobs, suffix), `sampling` the shared ones (max_tokens, temperature, ...), over the
    settings' parameters. The retired `/engines/...` base URL is refused here, before
    anything is sent."""
    options_value = CompletionOptions(prompt, **options)
    params = core.params_for(model, None, sampling)
    if not core.settings.is_local_model(params.model or core.settings.model):
        refuse_engines(core.settings.base_url)
    return plan(core, [Message("user", prompt)], params, stream=stream, resume=True,
                completion=options_value)


class TextStream:
    """Iterate for `TextDelta`s; `response` holds the `TextCompletion` once the loop ends."""

    def __init__(self, inner: ChatStream) -> None:
        self._inner = inner

    @property
    def response(self) -> TextCompletion | None:
        done = self._inner.response
        return TextCompletion.from_chat(done) if done is not None else None

    def __iter__(self) -> Iterator[TextDelta]:
        return self

    def __next__(self) -> TextDelta:
        return TextDelta.from_chat(next(self._inner))

    def close(self) -> None:
        self._inner.close()

    def until_done(self) -> TextCompletion:
        return TextCompletion.from_chat(self._inner.until_done())

    def __enter__(self) -> TextStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncTextStream:
    """The asynchronous twin of `TextStream`."""

    def __init__(self, inner: AsyncChatStream) -> None:
        self._inner = inner

    @property
    def response(self) -> TextCompletion | None:
        done = self._inner.response
        return TextCompletion.from_chat(done) if done is not None else None

    def __aiter__(self) -> AsyncIterator[TextDelta]:
        return self

    async def __anext__(self) -> TextDelta:
        return TextDelta.from_chat(await self._inner.__anext__())

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def until_done(self) -> TextCompletion:
        return TextCompletion.from_chat(await self._inner.until_done())

    async def __aenter__(self) -> AsyncTextStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
