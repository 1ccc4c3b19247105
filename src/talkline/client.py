"""`Client` and `AsyncClient`: one request, with retries, rate limits and fallbacks.

Both wrap a backend's single attempt (`talkline.backends`). What they share, choosing the
backend, building the request, the model chain, feeding the rate limiter, lives in
`_Core`; the retry decisions are `talkline.retry`'s. The two classes only differ in how
they wait and read.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .backends.base import AsyncBackend, Backend, ChatRequest
from .backends.remote import AsyncRemoteBackend, RemoteBackend, Timeouts
from .errors import (
    APIConnectionError,
    APIError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
    TalklineError,
)
from .ratelimit import RateLimiter, Reservation
from .retry import RetryEvent, RetryPolicy, RetryState, server_delay
from .settings import Settings as Settings
from .types import ChatDelta, ChatParams, ChatResponse, Message, as_messages
from .wire.accumulate import StreamAccumulator as StreamAccumulator

__all__ = ["AsyncChatStream", "AsyncClient", "ChatStream", "Client", "FallbackEvent"]

MessagesLike = str | Message | Mapping[str, Any] | Iterable[Message | Mapping[str, Any]]


@dataclass(frozen=True)
class FallbackEvent:
    """The model `from_model` failed for good with `error`; `to_model` is tried next."""

    from_model: str
    to_model: str
    error: BaseException


def _estimate_prompt_tokens(messages: Iterable[Message]) -> int:
    # A cheap upper-ish estimate for the rate limiter: ~4 characters a token.
    return sum(len(m.text) // 4 + 4 for m in messages) + 3


class _Core:
    """Everything `Client` and `AsyncClient` share."""

    def __init__(
        self,
        settings: Settings | None,
        *,
        api_key: str | None,
        base_url: str | None,
        model: str | None,
        retries: int | None,
        fallbacks: Iterable[str] | None,
        retry_policy: RetryPolicy | None,
        rate_limiter: RateLimiter | None,
        timeouts: Timeouts | None,
        on_retry: Callable[[RetryEvent], None] | None,
        on_fallback: Callable[[FallbackEvent], None] | None,
        rand: Callable[[], float],
    ) -> None:
        if settings is None:
            settings = Settings.resolve(
                api_key=api_key, base_url=base_url, model=model, retries=retries,
                fallbacks=tuple(fallbacks) if fallbacks else None,
            )
        else:
            changes: dict[str, Any] = {}
            if api_key is not None:
                changes["api_key"] = api_key
            if base_url is not None:
                changes["base_url"] = base_url.rstrip("/")
            if model is not None:
                changes["model"] = model
            if retries is not None:
                changes["retries"] = retries
            if fallbacks is not None:
                changes["fallbacks"] = tuple(fallbacks)
            settings = settings.replace(**changes) if changes else settings
        self.settings = settings
        self.policy = retry_policy or RetryPolicy(max_retries=settings.retries)
        self.limiter = rate_limiter or RateLimiter(
            rpm=settings.rpm, tpm=settings.tpm, probe_first=True
        )
        self.timeouts = timeouts or Timeouts(
            connect=settings.connect_timeout, read=settings.timeout, idle=settings.idle_timeout
        )
        self.on_retry = on_retry
        self.on_fallback = on_fallback
        self.rand = rand

    # -- requests

    def params_for(self, model: str | None, params: Mapping[str, Any]) -> ChatParams:
        base = self.settings.params
        merged = base.merge(**{k: v for k, v in params.items() if v is not None})
        return merged.merge(model=model or merged.model or self.settings.model)

    def chain(self, first: str) -> list[str]:
        models = [first]
        for m in self.settings.fallbacks:
            if m not in models:
                models.append(m)
        return models

    def request(self, messages: list[Message], params: ChatParams, model: str) -> ChatRequest:
        key = self.limiter_key(model)
        limiter = self.limiter

        def on_headers(status: int, headers: Mapping[str, str]) -> None:
            limiter.update_from_headers(key, headers)

        return ChatRequest(
            messages=tuple(messages),
            params=params.merge(model=model),
            headers={"Idempotency-Key": f"talkline-{uuid.uuid4().hex}"},
            on_headers=on_headers,
        )

    def limiter_key(self, model: str) -> tuple[str, str]:
        where = "local" if self.settings.is_local_model(model) else self.settings.base_url
        return (where, model)

    def estimate(self, request: ChatRequest) -> int:
        p = request.params
        return self.limiter.estimate_tokens(
            _estimate_prompt_tokens(request.messages),
            p.n or 1,
            p.max_completion_tokens or p.max_tokens,
        )

    def settle(self, reservation: Reservation | None, response: ChatResponse | None) -> None:
        if reservation is None:
            return
        actual = response.usage.total_tokens if response and response.usage else None
        self.limiter.reconcile(reservation, actual)

    def note_failure(self, request: ChatRequest, error: BaseException) -> None:
        """A 429 pauses the bucket it names for the time the server gives."""
        cause = error.cause if isinstance(error, StreamInterrupted) else error
        if isinstance(cause, RateLimitError):
            delay = server_delay(cause.headers, cause.message)
            text = cause.message.lower()
            kind = "tokens" if "tokens" in text or cause.type == "tokens" else (
                "requests" if "requests" in text or cause.type == "requests" else None
            )
            if delay and delay > 0:
                self.limiter.pause(self.limiter_key(request.model), kind, delay)

    def retry_state(self, reword: Callable[[RetryEvent], RetryEvent] | None = None
                    ) -> RetryState:
        """One request's walk through its attempts (shared with `talkline.retry`)."""
        on_retry = self.on_retry
        if reword is not None and on_retry is not None:
            user_cb = on_retry

            def on_retry(event: RetryEvent) -> None:
                user_cb(reword(event))

        return RetryState(self.policy, rand=self.rand, clock=time.time, on_retry=on_retry)

    @staticmethod
    def falls_back(error: BaseException) -> bool:
        """Worth trying the next model: unknown model, or retries exhausted on transient
        failures. Never for a bad request, auth or quota."""
        if isinstance(error, StreamInterrupted):
            return error.cause is None or _Core.falls_back(error.cause)
        return isinstance(error, (NotFoundError, ServerError, RateLimitError,
                                  APIConnectionError)) or (
            isinstance(error, APIError) and error.status in (408, 409)
        )

    def fallback(self, models: list[str], i: int, error: BaseException) -> None:
        if self.on_fallback is not None:
            self.on_fallback(FallbackEvent(models[i], models[i + 1], error))

    def finish(self, response: ChatResponse, requested: str, attempts: int,
               started: float, first_token_at: float | None) -> ChatResponse:
        now = time.monotonic()
        return response.replace(
            requested_model=requested,
            attempts=attempts,
            latency=now - started,
            time_to_first_token=(first_token_at - started) if first_token_at else None,
        )

    def local_spec(self, model: str) -> Any:
        """The embedded model, or a GGUF file registered in `[models.NAME]`."""
        from pathlib import Path

        from .backends.local.backend import LocalModelSpec, default_model_spec

        conf = self.settings.local_models.get(model) or {}
        if conf.get("path") is None:
            return default_model_spec()  # installed on first use if need be
        return LocalModelSpec(
            name=model,
            path=Path(str(conf["path"])).expanduser(),
            n_ctx=conf.get("n_ctx"),
            chat_format=conf.get("chat_format"),
            n_threads=conf.get("n_threads"),
        )


class ChatStream:
    """Iterate for `ChatDelta`s; `response` holds the whole answer once the loop ends.

    A delta with `restart=True` means the stream broke and was retried: drop the text of
    that choice received so far.
    """

    def __init__(self, deltas: Iterator[ChatDelta]) -> None:
        self._deltas = deltas
        self.response: ChatResponse | None = None

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

    def __init__(self, deltas: AsyncIterator[ChatDelta]) -> None:
        self._deltas = deltas
        self.response: ChatResponse | None = None

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


class _StreamRun:
    """The bookkeeping of one streamed request across its attempts (no I/O)."""

    def __init__(self, core: _Core, request: ChatRequest, resume: bool) -> None:
        self.core = core
        self.request = request
        self.resume = resume
        self.state = core.retry_state(reword=self._reword)
        self.started_any = False
        self.shown = False  # content reached the caller during this attempt
        self.deltas_seen = 0
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self.acc = StreamAccumulator(model=request.model)

    @property
    def attempt(self) -> int:
        return self.state.attempt

    def begin(self) -> list[ChatDelta]:
        """Start an attempt; the restart deltas to emit if an earlier one showed content."""
        restarts: list[ChatDelta] = []
        if self.shown:
            restarts = [ChatDelta(index=i, restart=True) for i in self.acc.texts()]
        self.acc = StreamAccumulator(model=self.request.model)
        self.shown = False
        self.deltas_seen = 0
        return restarts

    def see(self, delta: ChatDelta) -> None:
        self.acc.add(delta)
        if delta.content or delta.tool_calls:
            self.shown = True
            self.deltas_seen += 1
            if self.first_token_at is None:
                self.first_token_at = time.monotonic()

    def _reword(self, event: RetryEvent) -> RetryEvent:
        if not self.shown:
            return event
        err = event.error
        cause = err.cause if isinstance(err, StreamInterrupted) else err
        what = (f"the server sent an error after {self.deltas_seen} tokens ({cause.message})"
                if isinstance(cause, APIError)
                else f"connection dropped after {self.deltas_seen} tokens")
        reason = f"{what}; retried (attempt {event.attempt + 1} of {event.max_attempts})"
        return RetryEvent(event.attempt, event.max_attempts, err, event.delay, reason)

    def failed(self, error: TalklineError) -> float:
        """The wait before the next attempt; raises when the error is final."""
        self.core.note_failure(self.request, error)
        if self.shown and not self.resume:
            error.attempts = self.attempt
            raise error
        delay = self.state.failed(error)
        if delay is None:
            raise error
        return delay

    def response(self, requested: str) -> ChatResponse:
        resp = self.acc.response()
        return self.core.finish(resp, requested, self.attempt, self.started, self.first_token_at)


class Client:
    """A synchronous client.

    ```python
    with Client(model="gpt-4o-mini") as client:
        reply = client.complete("Hello")
        for delta in client.stream([{"role": "user", "content": "Hi"}]):
            print(delta.content, end="")
    ```
    Without arguments, settings come from the environment and config file (see
    `Settings.resolve`). Request parameters given to a call override the settings'.
    """

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
        backend: Backend | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        on_fallback: Callable[[FallbackEvent], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._core = _Core(
            settings, api_key=api_key, base_url=base_url, model=model, retries=retries,
            fallbacks=fallbacks, retry_policy=retry_policy, rate_limiter=rate_limiter,
            timeouts=timeouts, on_retry=on_retry, on_fallback=on_fallback, rand=rand,
        )
        self._sleep = sleep
        self._remote: Backend | None = backend
        self._local: dict[str, Backend] = {}

    @property
    def settings(self) -> Settings:
        return self._core.settings

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._core.limiter

    def backend_for(self, model: str) -> Backend:
        core = self._core
        if core.settings.is_local_model(model):
            if model not in self._local:
                from .backends.local.backend import LocalBackend as LocalBackend

                self._local[model] = LocalBackend(core.local_spec(model))
            return self._local[model]
        if self._remote is None:
            self._remote = RemoteBackend(
                core.settings.base_url, core.settings.api_key, timeouts=core.timeouts
            )
        return self._remote

    def complete(
        self, messages: MessagesLike, *, model: str | None = None, **params: Any
    ) -> ChatResponse:
        """The whole answer at once (a broken stream is never involved)."""
        core = self._core
        msgs = as_messages(messages)
        chat = core.params_for(model, params)
        models = core.chain(chat.model or core.settings.model)
        for i, m in enumerate(models):
            try:
                return self._complete_with_retries(msgs, chat, m, models[0])
            except TalklineError as exc:
                if i + 1 >= len(models) or not core.falls_back(exc):
                    raise
                core.fallback(models, i, exc)
        raise AssertionError("unreachable")

    def _complete_with_retries(self, msgs: list[Message], chat: ChatParams, model: str,
                               requested: str) -> ChatResponse:
        core = self._core
        request = core.request(msgs, chat, model)
        backend = self.backend_for(model)
        started = time.monotonic()
        state = core.retry_state()
        while True:
            reservation = core.limiter.acquire(
                core.limiter_key(model), core.estimate(request), sleep=self._sleep
            )
            try:
                response = backend.complete(request)
            except TalklineError as exc:
                core.settle(reservation, None)
                core.note_failure(request, exc)
                delay = state.failed(exc)
                if delay is None:
                    raise
                self._sleep(delay)
                continue
            except BaseException:
                core.settle(reservation, None)
                raise
            core.settle(reservation, response)
            return core.finish(response, requested, state.attempt, started, None)

    def stream(
        self,
        messages: MessagesLike,
        *,
        model: str | None = None,
        resume: bool = True,
        **params: Any,
    ) -> ChatStream:
        """Stream the answer. A stream that breaks is retried (deltas with `restart=True`
        tell the caller to drop what it showed); with `resume=False` a break after content
        raises `StreamInterrupted` with the partial text instead."""
        core = self._core
        msgs = as_messages(messages)
        chat = core.params_for(model, params)
        models = core.chain(chat.model or core.settings.model)
        holder = ChatStream(iter(()))

        def run() -> Iterator[ChatDelta]:
            for i, m in enumerate(models):
                try:
                    holder.response = yield from self._stream_with_retries(
                        msgs, chat, m, models[0], resume
                    )
                    return
                except TalklineError as exc:
                    if i + 1 >= len(models) or not core.falls_back(exc) or (
                        isinstance(exc, StreamInterrupted) and not resume
                    ):
                        raise
                    core.fallback(models, i, exc)

        holder._deltas = run()
        return holder

    def _stream_with_retries(self, msgs: list[Message], chat: ChatParams, model: str,
                             requested: str, resume: bool
                             ) -> Generator[ChatDelta, None, ChatResponse]:
        core = self._core
        run = _StreamRun(core, core.request(msgs, chat, model), resume)
        backend = self.backend_for(model)
        while True:
            yield from run.begin()
            reservation = core.limiter.acquire(
                core.limiter_key(model), core.estimate(run.request), sleep=self._sleep
            )
            try:
                for delta in backend.stream(run.request):
                    run.see(delta)
                    yield delta
            except TalklineError as exc:
                core.settle(reservation, None)
                self._sleep(run.failed(exc))
                continue
            except BaseException:  # the caller stopped reading (close, Ctrl-C, cancel)
                core.settle(reservation, None)
                raise
            response = run.response(requested)
            core.settle(reservation, response)
            return response

    def models(self) -> list[str]:
        """The server's models, and the embedded one when installed."""
        from .backends.local.backend import find_default_model as find_default_model

        names: list[str] = []
        if self._core.settings.api_key or self._core.settings.base_url != _default_url():
            names = self.backend_for(_remote_probe_model(self._core.settings)).models()
        local = ["local"] if find_default_model() else []
        return names + local + [m for m in self._core.settings.local_models if m != "local"]

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()
        for backend in self._local.values():
            backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The asynchronous twin of `Client`: same arguments, same behaviour, awaited."""

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
        sleep: Callable[[float], Any] | None = None,
        rand: Callable[[], float] = random.random,
        max_connections: int = 1000,
    ) -> None:
        self._core = _Core(
            settings, api_key=api_key, base_url=base_url, model=model, retries=retries,
            fallbacks=fallbacks, retry_policy=retry_policy, rate_limiter=rate_limiter,
            timeouts=timeouts, on_retry=on_retry, on_fallback=on_fallback, rand=rand,
        )
        if sleep is None:
            import asyncio

            sleep = asyncio.sleep
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
                from .backends.local.backend import AsyncLocalBackend as AsyncLocalBackend

                self._local[model] = AsyncLocalBackend(core.local_spec(model))
            return self._local[model]
        if self._remote is None:
            self._remote = AsyncRemoteBackend(
                core.settings.base_url, core.settings.api_key, timeouts=core.timeouts,
                max_connections=self._max_connections,
            )
        return self._remote

    async def complete(
        self, messages: MessagesLike, *, model: str | None = None, **params: Any
    ) -> ChatResponse:
        core = self._core
        msgs = as_messages(messages)
        chat = core.params_for(model, params)
        models = core.chain(chat.model or core.settings.model)
        for i, m in enumerate(models):
            try:
                return await self._complete_with_retries(msgs, chat, m, models[0])
            except TalklineError as exc:
                if i + 1 >= len(models) or not core.falls_back(exc):
                    raise
                core.fallback(models, i, exc)
        raise AssertionError("unreachable")

    async def _complete_with_retries(self, msgs: list[Message], chat: ChatParams, model: str,
                                     requested: str) -> ChatResponse:
        core = self._core
        request = core.request(msgs, chat, model)
        backend = self.backend_for(model)
        started = time.monotonic()
        state = core.retry_state()
        while True:
            reservation = await core.limiter.aacquire(
                core.limiter_key(model), core.estimate(request), asleep=self._sleep
            )
            try:
                response = await backend.complete(request)
            except TalklineError as exc:
                core.settle(reservation, None)
                core.note_failure(request, exc)
                delay = state.failed(exc)
                if delay is None:
                    raise
                await self._sleep(delay)
                continue
            except BaseException:
                core.settle(reservation, None)
                raise
            core.settle(reservation, response)
            return core.finish(response, requested, state.attempt, started, None)

    def stream(
        self,
        messages: MessagesLike,
        *,
        model: str | None = None,
        resume: bool = True,
        **params: Any,
    ) -> AsyncChatStream:
        core = self._core
        msgs = as_messages(messages)
        chat = core.params_for(model, params)
        models = core.chain(chat.model or core.settings.model)

        async def run() -> AsyncIterator[ChatDelta]:
            for i, m in enumerate(models):
                try:
                    async for delta in self._stream_with_retries(
                        msgs, chat, m, models[0], resume, holder
                    ):
                        yield delta
                    return
                except TalklineError as exc:
                    if i + 1 >= len(models) or not core.falls_back(exc) or (
                        isinstance(exc, StreamInterrupted) and not resume
                    ):
                        raise
                    core.fallback(models, i, exc)

        holder = AsyncChatStream(run())
        return holder

    async def _stream_with_retries(self, msgs: list[Message], chat: ChatParams, model: str,
                                   requested: str, resume: bool, holder: AsyncChatStream
                                   ) -> AsyncIterator[ChatDelta]:
        core = self._core
        run = _StreamRun(core, core.request(msgs, chat, model), resume)
        backend = self.backend_for(model)
        while True:
            for restart in run.begin():
                yield restart
            reservation = await core.limiter.aacquire(
                core.limiter_key(model), core.estimate(run.request), asleep=self._sleep
            )
            try:
                async for delta in backend.stream(run.request):
                    run.see(delta)
                    yield delta
            except TalklineError as exc:
                core.settle(reservation, None)
                await self._sleep(run.failed(exc))
                continue
            except BaseException:  # the caller stopped reading (close, Ctrl-C, cancel)
                core.settle(reservation, None)
                raise
            holder.response = run.response(requested)
            core.settle(reservation, holder.response)
            return

    async def models(self) -> list[str]:
        from .backends.local.backend import find_default_model as find_default_model

        names: list[str] = []
        if self._core.settings.api_key or self._core.settings.base_url != _default_url():
            names = await self.backend_for(_remote_probe_model(self._core.settings)).models()
        local = ["local"] if find_default_model() else []
        return names + local + [m for m in self._core.settings.local_models if m != "local"]

    async def aclose(self) -> None:
        if self._remote is not None:
            await self._remote.aclose()
        for backend in self._local.values():
            await backend.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _default_url() -> str:
    from .settings import DEFAULT_BASE_URL as DEFAULT_BASE_URL

    return DEFAULT_BASE_URL


def _remote_probe_model(settings: Settings) -> str:
    # Any name that is not a local model selects the remote backend.
    return settings.model if not settings.is_local_model() else "gpt-4o-mini"
