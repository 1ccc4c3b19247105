"""What `Client` and `AsyncClient` share, with no I/O: settings, the one typed request,
the model chain, the rate-limiter bookkeeping and when to fall back."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..backends.base import ChatRequest
from ..errors import (
    APIConnectionError,
    APIError,
    DeadlineExceeded,
    NotFoundError,
    ParamError,
    RateLimitError,
    ServerError,
    StreamInterrupted,
)
from ..estimate import estimate_prompt
from ..ratelimit import LimitKey, RateLimiter, Reservation, limit_kind
from ..retry import RetryEvent, RetryPolicy, RetryState, server_delay
from ..settings import DEFAULT_BASE_URL, LOCAL_MODEL, Settings
from ..types import ChatParams, ChatResponse, Message
from ..types.completions import CompletionOptions
from ..wire.limits import Limits
from ..wire.timeouts import Timeouts

if TYPE_CHECKING:
    from ..backends.local.backend import LocalModelSpec

__all__ = ["Core", "FallbackEvent", "MessagesLike"]

MessagesLike = str | Message | Mapping[str, Any] | Iterable[Message | Mapping[str, Any]]


@dataclass(frozen=True)
class FallbackEvent:
    """The model `from_model` failed for good with `error`; `to_model` is tried next."""

    from_model: str
    to_model: str
    error: BaseException


def _settings(settings: Settings | None, *, api_key: str | None, base_url: str | None,
              model: str | None, retries: int | None, fallbacks: Iterable[str] | None
              ) -> Settings:
    """The client's settings: resolved from the environment and config file when none are
    given, and the constructor's arguments over them."""
    if settings is None:
        return Settings.resolve(
            api_key=api_key, base_url=base_url, model=model, retries=retries,
            fallbacks=tuple(fallbacks) if fallbacks else None,
        )
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
    return settings.replace(**changes) if changes else settings


class Core:
    """Everything `Client` and `AsyncClient` share; `talkline.client._plan` holds the loop."""

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
        self.settings = _settings(settings, api_key=api_key, base_url=base_url, model=model,
                                  retries=retries, fallbacks=fallbacks)
        self.policy = retry_policy or RetryPolicy(max_retries=self.settings.retries)
        self.limiter = rate_limiter or RateLimiter(
            rpm=self.settings.rpm, tpm=self.settings.tpm, probe_first=True
        )
        self.timeouts = timeouts or Timeouts.from_settings(self.settings)
        self.limits = Limits.from_settings(self.settings)
        # Seconds one call may take in all: every attempt, wait and fallback included.
        self.deadline = self.settings.deadline
        self.on_retry = on_retry
        self.on_fallback = on_fallback
        self.rand = rand
        self.on_warning: Callable[[str], None] | None = None  # set by the Client
        self._warned: set[str] = set()  # the retired models warned of (once each)

    # -- the request

    def params_for(self, model: str | None, params: ChatParams | None,
                   overrides: Mapping[str, Any]) -> ChatParams:
        """The one typed request. `params` is taken as it is (its caller already layered
        the settings in); keyword `overrides` go over the settings' parameters, validated
        once. The model: the params', else `model`, else the settings'."""
        if params is not None:
            given = sorted(k for k, v in overrides.items() if v is not None)
            if given:
                raise ParamError(
                    f"request parameters given twice: params= and {', '.join(given)}=. "
                    "Put them all in the ChatParams, or pass them all as keywords."
                )
            return params if params.model else params.merge(model=model or self.settings.model)
        base = self.settings.params
        fields = {k: v for k, v in overrides.items() if v is not None}
        fields["model"] = model or base.model or self.settings.model
        return base.merge(**fields)

    def chain(self, first: str) -> list[str]:
        """The model asked for, then the fallbacks (each once)."""
        models = [first]
        for m in self.settings.fallbacks:
            if m not in models:
                models.append(m)
        return models

    def request(self, messages: tuple[Message, ...], params: ChatParams, model: str
                ) -> ChatRequest:
        """One model's request; every attempt of it carries the same Idempotency-Key, and
        every response's headers feed the rate limiter."""
        key = self.limiter_key(model)
        limiter = self.limiter

        def on_headers(status: int, headers: Mapping[str, str]) -> None:
            limiter.update_from_headers(key, headers)

        settings = self.settings
        local = settings.is_local_model(model)  # the embedded model speaks chat only
        return ChatRequest(
            messages=messages,
            params=params.merge(model=model),
            headers={"Idempotency-Key": f"talkline-{uuid.uuid4().hex}"},
            on_headers=on_headers,
            api="chat" if local else settings.api or "chat",
            server_state=settings.server_state and not local,
            reasoning=settings.reasoning_model and not local,
        )

    @staticmethod
    def completion_request(request: ChatRequest, options: CompletionOptions) -> ChatRequest:
        """A text completion's attempt: the same request (key, headers, deadline), sent to
        `/completions` with the prompt and its fields (the embedded model serves it too)."""
        return dataclasses.replace(request, api="completions", completion=options,
                                   server_state=False, reasoning=False)

    # -- the rate limiter

    def limiter_key(self, model: str) -> LimitKey:
        where = LOCAL_MODEL if self.settings.is_local_model(model) else self.settings.base_url
        return (where, model)

    def estimate(self, request: ChatRequest) -> int:
        p = request.params
        return self.limiter.estimate_tokens(
            estimate_prompt(m.text for m in request.messages),
            p.n or 1,
            p.max_completion_tokens or p.max_tokens,
        )

    def settle(self, reservation: Reservation | None, response: ChatResponse | None) -> None:
        if reservation is None:
            return
        actual = response.usage.total_tokens if response and response.usage else None
        self.limiter.reconcile(reservation, actual)

    def note_failure(self, request: ChatRequest, error: BaseException) -> None:
        """A 429 pauses the bucket it names (`limit_kind`) for the time the server gives,
        never longer than the retry policy would wait: a wait the policy refuses (longer
        than `max_server_wait`) pauses nothing, so other requests are not frozen by it."""
        cause = error.cause if isinstance(error, StreamInterrupted) else error
        if isinstance(cause, RateLimitError):
            delay = server_delay(cause.headers, cause.message)
            if delay and 0 < delay <= self.policy.max_server_wait:
                self.limiter.pause(self.limiter_key(request.model), limit_kind(cause), delay)

    def check_retired(self, model: str) -> None:
        """Refuse a model OpenAI has retired when this client talks to OpenAI (raises
        `RetiredModelError`); warn once of one sent elsewhere, or retiring soon."""
        if self.settings.is_local_model(model):
            return
        from ..planning.lifecycle import check_model
        from ..planning.user_catalog import catalog_for

        warning = check_model(model, self.settings.base_url, catalog_for(self.settings))
        if warning is None or model in self._warned:
            return
        self._warned.add(model)
        if self.on_warning is not None:
            self.on_warning(warning)
        else:
            import logging

            logging.getLogger("talkline.client").warning("%s", warning)

    # -- retries and fallbacks

    def retry_state(self) -> RetryState:
        """One model's walk through its attempts (the rules are `talkline.retry`'s)."""
        return RetryState(self.policy, rand=self.rand, clock=time.time, on_retry=self.on_retry)

    @staticmethod
    def falls_back(error: BaseException, *, resume: bool = True) -> bool:
        """Worth trying the next model: unknown model, or retries exhausted on transient
        failures. Never for a bad request, auth or quota, nor for a stream that broke after
        content when the caller asked not to resume."""
        if isinstance(error, DeadlineExceeded):
            return False  # the call's deadline is over: no time left for another model
        if isinstance(error, StreamInterrupted):
            if not resume:
                return False
            return error.cause is None or Core.falls_back(error.cause)
        return isinstance(error, (NotFoundError, ServerError, RateLimitError,
                                  APIConnectionError)) or (
            isinstance(error, APIError) and error.status in (408, 409)
        )

    def fallback(self, models: list[str], i: int, error: BaseException) -> None:
        if self.on_fallback is not None:
            self.on_fallback(FallbackEvent(models[i], models[i + 1], error))

    # -- backends

    def local_spec(self, model: str) -> LocalModelSpec:
        """The embedded model, or a GGUF file registered in `[models.NAME]`."""
        from ..backends.local.backend import spec_for

        return spec_for(model, self.settings.local_models.get(model) or {})

    def lists_remote_models(self) -> bool:
        """Whether `models()` asks the server: a key is set, or the URL is not the default."""
        return bool(self.settings.api_key) or self.settings.base_url != DEFAULT_BASE_URL

    def remote_probe_model(self) -> str:
        # Any name that is not a local model selects the remote backend.
        s = self.settings
        return s.model if not s.is_local_model() else "gpt-4o-mini"

    def with_local_models(self, names: list[str], default_installed: bool) -> list[str]:
        local = [LOCAL_MODEL] if default_installed else []
        return names + local + [m for m in self.settings.local_models if m != LOCAL_MODEL]
