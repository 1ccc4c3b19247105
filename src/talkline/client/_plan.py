"""The loop of one call, written once: each model of the chain in turn, each with its
retries, the rate limiter around every attempt. No I/O.

`plan` is a generator. It yields `Step`s, what the client must do next (make a backend,
reserve the rate limit, send, wait, hand the caller a delta), and is sent back the result
(or thrown the `TalklineError` the step raised). `Client` and `AsyncClient` each drive it
with one small loop, line for line the same but for `await`; so the two cannot drift, and
the fallback and retry rules are in one place.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from ..backends.base import ChatRequest
from ..errors import DeadlineExceeded, StreamInterrupted, TalklineError
from ..ratelimit import LimitKey
from ..tools import ToolRunner
from ..types import ChatDelta, ChatParams, ChatResponse, Message, ToolCall
from ..types.completions import CompletionOptions
from ..wire.accumulate import StreamAccumulator
from ..wire.limits import check_deadline
from ._core import Core

__all__ = ["Acquire", "Connect", "Emit", "Plan", "RunTools", "Send", "Step", "Wait", "plan"]


@dataclass(frozen=True)
class Connect:
    """Make sure the backend of `model` exists (a failure here is not retried)."""

    model: str


@dataclass(frozen=True)
class Acquire:
    """Reserve one request and `tokens` from the rate limiter; send back the Reservation."""

    key: LimitKey
    tokens: int


@dataclass(frozen=True)
class Send:
    """One attempt of `request` on the backend of `model`. Not streamed: send back the
    `ChatResponse`. Streamed: pass every delta to `see`, then to the caller; send back None."""

    model: str
    request: ChatRequest
    stream: bool
    see: Callable[[ChatDelta], None]


@dataclass(frozen=True)
class Wait:
    """Sleep `seconds` before the next attempt."""

    seconds: float


@dataclass(frozen=True)
class Emit:
    """Hand `delta` to the caller (a `restart=True` delta after a broken stream)."""

    delta: ChatDelta


@dataclass(frozen=True)
class RunTools:
    """Run `calls` with `runner`, in order (the tool loop, `_tools.py`); send back the
    list of `ToolResult`s."""

    runner: ToolRunner
    calls: tuple[ToolCall, ...]


Step = Connect | Acquire | Send | Wait | Emit | RunTools
Plan = Generator[Step, Any, ChatResponse]


class Attempts:
    """The bookkeeping of one model's request across its attempts: the retry state, what
    the caller was shown of a stream, the timing."""

    def __init__(self, core: Core, request: ChatRequest, requested: str, resume: bool) -> None:
        self.core = core
        self.request = request
        self.requested = requested
        self.resume = resume
        self.state = core.retry_state()
        self.shown = False  # content reached the caller during this attempt
        self.deltas_seen = 0
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self.acc = StreamAccumulator(model=request.model)

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
        if delta.content or delta.tool_calls or delta.reasoning:
            self.shown = True
            self.deltas_seen += 1
            if self.first_token_at is None:
                self.first_token_at = time.monotonic()

    def failed(self, error: TalklineError) -> float:
        """The wait before the next attempt; raises `error` when it is final."""
        self.core.note_failure(self.request, error)
        if self.shown and not self.resume:
            error.attempts = self.state.attempt
            raise error
        deadline = self.request.deadline
        if deadline is not None and time.monotonic() >= deadline:
            raise _past_deadline(error, self.core.deadline)
        delay = self.state.failed(error, after_tokens=self.deltas_seen if self.shown else None)
        if delay is None:
            raise error
        if deadline is not None and time.monotonic() + delay >= deadline:
            raise _past_deadline(error, self.core.deadline)
        return delay

    def response(self, answer: ChatResponse | None) -> ChatResponse:
        """The answer (a stream's, accumulated, when `answer` is None), with the model asked
        for, the attempts and the timing."""
        resp = answer if answer is not None else self.acc.response()
        started = self.started
        return resp.replace(
            requested_model=self.requested,
            attempts=self.state.attempt,
            latency=time.monotonic() - started,
            time_to_first_token=(self.first_token_at - started) if self.first_token_at else None,
        )


def _past_deadline(error: TalklineError, seconds: float) -> TalklineError:
    """The error to give when the call's deadline passes while it fails: a stream keeps
    what it had received."""
    try:
        check_deadline(float("-inf"), seconds)
    except DeadlineExceeded as exc:
        past = exc
    past.attempts = getattr(error, "attempts", None) or 1
    if isinstance(error, StreamInterrupted):
        return StreamInterrupted(f"{error.message.split(':')[0]}: {past.message}",
                                 partial=error.partial, partials=error.partials, cause=past,
                                 completion_tokens=error.completion_tokens, hint=past.hint)
    return past


def plan(core: Core, messages: list[Message], params: ChatParams, *, stream: bool,
         resume: bool, completion: CompletionOptions | None = None) -> Plan:
    """The whole call: the model chain, each model with its retries. A model that fails for
    good moves on to the next when `Core.falls_back` says so (`on_fallback` is told). The
    deadline (`Core.deadline` seconds) covers the whole call: attempts, waits, fallbacks.
    `completion`: a text completion (`/completions`, `Core.completion_request`)."""
    models = core.chain(params.model or core.settings.model)
    deadline = time.monotonic() + core.deadline
    for i, model in enumerate(models):
        try:
            return (yield from _one_model(core, tuple(messages), params, model, models[0],
                                          stream, resume, deadline, completion))
        except TalklineError as exc:
            if i + 1 >= len(models) or not core.falls_back(exc, resume=resume):
                raise
            core.fallback(models, i, exc)
    raise AssertionError("unreachable")


def _one_model(core: Core, messages: tuple[Message, ...], params: ChatParams, model: str,
               requested: str, stream: bool, resume: bool, deadline: float,
               completion: CompletionOptions | None = None) -> Plan:
    core.check_retired(model)  # before anything is sent, for each model of the chain
    yield Connect(model)
    request = dataclasses.replace(core.request(messages, params, model), deadline=deadline)
    if completion is not None:
        request = core.completion_request(request, completion)
    run = Attempts(core, request, requested, resume)
    while True:
        for delta in run.begin():
            yield Emit(delta)
        reservation = yield Acquire(core.limiter_key(model), core.estimate(run.request))
        try:
            answer = yield Send(model, run.request, stream, run.see)
        except TalklineError as exc:
            core.settle(reservation, None)
            yield Wait(run.failed(exc))
            continue
        except BaseException:  # the caller stopped reading (close, Ctrl-C, cancel)
            core.settle(reservation, None)
            raise
        response = run.response(answer)
        core.settle(reservation, response)
        return response
