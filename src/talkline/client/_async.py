"""`AsyncClient`: the asynchronous twin. `_sync.py` is this file line for line, without
`await`."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Literal, overload

from ..backends.base import AsyncBackend
from ..backends.remote import AsyncRemoteBackend
from ..errors import TalklineError
from ..ratelimit import RateLimiter
from ..retry import RetryEvent, RetryPolicy
from ..schema import SchemaLike
from ..settings import Settings
from ..tools import Approve, ToolResult
from ..types import ChatDelta, ChatParams, ChatResponse, as_messages
from ..types.completions import TextCompletion
from ..wire.timeouts import Timeouts
from ._calls import call_plan
from ._core import Core, FallbackEvent, MessagesLike
from ._plan import Acquire, Connect, Emit, Plan, RunTools, Wait
from ._streams import AsyncChatStream
from ._structured import schema_for
from ._text import AsyncTextStream, text_plan
from ._tools import DEFAULT_CHAIN_LIMIT, RoundCheck, ToolOptions

__all__ = ["AsyncClient"]


class AsyncClient:
    """The asynchronous twin of `Client`: same arguments, same behaviour, awaited.
    `max_connections` bounds its connection pool."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        retries: int | None = None,
        fallbacks: Iterable[str] | None = None,
        settings: Settings | None = None,
        retry_policy: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        timeouts: Timeouts | None = None,
        backend: AsyncBackend | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        on_fallback: Callable[[FallbackEvent], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
        sleep: Callable[[float], Any] | None = None,
        rand: Callable[[], float] = random.random,
        max_connections: int = 1000,
    ) -> None:
        self._core = Core(
            settings, api_key=api_key, base_url=base_url, model=model, retries=retries,
            fallbacks=fallbacks, retry_policy=retry_policy, rate_limiter=rate_limiter,
            timeouts=timeouts, on_retry=on_retry, on_fallback=on_fallback, rand=rand,
        )
        if sleep is None:
            import asyncio  # lazily: the sync start-up path never needs asyncio

            sleep = asyncio.sleep
        self._on_warning = on_warning
        self._core.on_warning = on_warning
        self._sleep = sleep
        self._remote: AsyncBackend | None = backend
        self._local: dict[str, AsyncBackend] = {}
        self._max_connections = max_connections

    @property
    def settings(self) -> Settings:
        return self._core.settings

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._core.limiter

    def backend_for(self, model: str) -> AsyncBackend:
        core = self._core
        if core.settings.is_local_model(model):
            if model not in self._local:
                from ..backends.local.backend import AsyncLocalBackend as AsyncLocalBackend

                self._local[model] = AsyncLocalBackend(core.local_spec(model))
            return self._local[model]
        if self._remote is None:
            self._remote = AsyncRemoteBackend(
                core.settings.base_url, core.settings.api_key, timeouts=core.timeouts,
                on_warning=self._on_warning, limits=core.limits,
                max_connections=self._max_connections,
            )
        return self._remote

    async def complete(self, messages: MessagesLike, *, model: str | None = None,
                       params: ChatParams | None = None, schema: SchemaLike | None = None,
                       tools: Sequence[Any] | None = None,
                       approve: Approve | None = None, chain_limit: int = DEFAULT_CHAIN_LIMIT,
                       on_tool: Callable[[ToolResult], None] | None = None,
                       before_round: RoundCheck | None = None,
                       **overrides: Any) -> ChatResponse:
        """The whole answer at once (a broken stream is never involved).

        With `tools=[fn, ...]` (functions, tool dicts or `Tool`s) the calls the model asks
        for are run and answered, up to `chain_limit` rounds: `approve(call)` may refuse
        one, `on_tool` is told each `ToolResult`. The response is the model's last; its
        `tool_messages` hold what the loop added, `loop_usage` what it cost in all, and
        `chain_limit_reached` is set when it stopped at the limit with calls unrun.

        With `schema` (a pydantic model class, a JSON schema dict, or a string: JSON, a
        .json path or the short syntax), the reply is checked and its value is `.parsed`."""
        tool_options = ToolOptions.of(tools, approve, chain_limit, on_tool, before_round)
        return await self._start(messages, model, params, overrides, False, True,
                                 tool_options, schema).until_done()

    def stream(self, messages: MessagesLike, *, model: str | None = None,
               params: ChatParams | None = None, resume: bool = True,
               schema: SchemaLike | None = None,
               tools: Sequence[Any] | None = None, approve: Approve | None = None,
               chain_limit: int = DEFAULT_CHAIN_LIMIT,
               on_tool: Callable[[ToolResult], None] | None = None,
               before_round: RoundCheck | None = None,
               **overrides: Any) -> AsyncChatStream:
        """Stream the answer; see `Client.stream`."""
        return self._start(messages, model, params, overrides, True, resume,
                           ToolOptions.of(tools, approve, chain_limit, on_tool, before_round),
                           schema)

    @overload
    async def complete_text(
            self, prompt: str, *, model: str | None = None,
            max_tokens: int | None = None, temperature: float | None = None,
            top_p: float | None = None, stop: str | Sequence[str] | None = None,
            n: int | None = None, seed: int | None = None, echo: bool | None = None,
            logprobs: int | None = None, suffix: str | None = None,
            stream: Literal[False] = False, **overrides: Any
    ) -> TextCompletion: ...

    @overload
    async def complete_text(
            self, prompt: str, *, model: str | None = None,
            max_tokens: int | None = None, temperature: float | None = None,
            top_p: float | None = None, stop: str | Sequence[str] | None = None,
            n: int | None = None, seed: int | None = None, echo: bool | None = None,
            logprobs: int | None = None, suffix: str | None = None,
            stream: Literal[True], **overrides: Any
    ) -> AsyncTextStream: ...

    @overload
    async def complete_text(
            self, prompt: str, *, model: str | None = None,
            max_tokens: int | None = None, temperature: float | None = None,
            top_p: float | None = None, stop: str | Sequence[str] | None = None,
            n: int | None = None, seed: int | None = None, echo: bool | None = None,
            logprobs: int | None = None, suffix: str | None = None,
            stream: bool, **overrides: Any
    ) -> TextCompletion | AsyncTextStream: ...

    async def complete_text(
            self, prompt: str, *, model: str | None = None,
            max_tokens: int | None = None, temperature: float | None = None,
            top_p: float | None = None, stop: str | Sequence[str] | None = None,
            n: int | None = None, seed: int | None = None, echo: bool | None = None,
            logprobs: int | None = None, suffix: str | None = None,
            stream: bool = False, **overrides: Any
    ) -> TextCompletion | AsyncTextStream:
        """A text completion (`POST /completions`: base models, llama.cpp, vLLM; the embedded
        model offline), with the same retries, rate limits, deadline and fallbacks as chat.
        `stream=True`: an `AsyncTextStream` of `TextDelta`s (its `response` set at the end).
        `overrides`: other `ChatParams` fields this endpoint takes (presence_penalty,
        frequency_penalty, logit_bias, user, extra_body); the rest are not sent."""
        sampling = {**overrides, "max_tokens": max_tokens, "temperature": temperature,
                    "top_p": top_p,
                    "stop": tuple(stop) if isinstance(stop, (list, tuple)) else stop,
                    "n": n, "seed": seed}
        steps = text_plan(self._core, prompt, model,
                          {"echo": echo, "logprobs": logprobs, "suffix": suffix},
                          sampling, stream=stream)
        out = AsyncTextStream(AsyncChatStream(lambda chat: self._drive(steps, chat)))
        return out if stream else await out.until_done()

    def _start(self, messages: MessagesLike, model: str | None, params: ChatParams | None,
               overrides: dict[str, Any], stream: bool, resume: bool,
               tools: ToolOptions | None = None, schema: SchemaLike | None = None
               ) -> AsyncChatStream:
        core = self._core
        chat = core.params_for(model, params, overrides)
        spec = schema_for(schema, chat, self._on_warning)
        steps = call_plan(core, as_messages(messages), chat, spec=spec, tools=tools,
                          stream=stream, resume=resume, note=self._on_warning)
        return AsyncChatStream(lambda out: self._drive(steps, out))

    async def _drive(self, steps: Plan, out: AsyncChatStream) -> AsyncIterator[ChatDelta]:
        """Do what the plan asks, step by step, until it returns the response."""
        reply: Any = None
        error: TalklineError | None = None
        try:
            while True:
                try:
                    step = steps.throw(error) if error is not None else steps.send(reply)
                except StopIteration as done:
                    out.response = done.value
                    return
                reply, error = None, None
                try:
                    if isinstance(step, Emit):
                        yield step.delta
                    elif isinstance(step, Wait):
                        await self._sleep(step.seconds)
                    elif isinstance(step, Acquire):
                        reply = await self._core.limiter.aacquire(step.key, step.tokens,
                                                                  asleep=self._sleep)
                    elif isinstance(step, RunTools):
                        reply = await step.runner.arun(step.calls)
                    elif isinstance(step, Connect):
                        self.backend_for(step.model)
                    elif not step.stream:
                        reply = await self.backend_for(step.model).complete(step.request)
                    else:
                        async for delta in self.backend_for(step.model).stream(step.request):
                            step.see(delta)
                            yield delta
                except TalklineError as exc:
                    error = exc
        finally:
            steps.close()  # settles a reservation left open (the caller stopped reading)

    async def models(self) -> list[str]:
        """The server's models, and the embedded one when installed."""
        from ..backends.local.backend import find_default_model as find_default_model

        core = self._core
        names: list[str] = []
        if core.lists_remote_models():
            names = await self.backend_for(core.remote_probe_model()).models()
        return core.with_local_models(names, bool(find_default_model()))

    async def aclose(self) -> None:
        if self._remote is not None:
            await self._remote.aclose()
        for backend in self._local.values():
            await backend.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
