"""The gateway's ASGI app: `create_app(GatewayConfig) -> Starlette`.

Routes: `GET /healthz`, `GET /v1/models`, `POST /v1/chat/completions` and
`POST /v1/responses` (streamed and not), plus the web page's routes (`serve.web`) when
that module is there. Each request is authenticated (`serve.auth`), its body checked
(`serve.requests`), routed to its upstream's client core (`serve.upstreams`), answered in
the OpenAI shape (`serve.relay` for streams, `serve.errors` for failures) and stored
(`serve.record`). A catch-all handler answers 500 `server_error` and logs the exception's
type only: never a traceback, never a key.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import TalklineError
from ..planning.catalog import lookup
from ..planning.costs import worst_case_cost
from ..settings import LOCAL_MODEL, Settings
from ..store import ConversationNotFound, ConversationStore
from . import auth
from .budgets import KeyBudgetExceededError, budget_response, check_budget
from .context import fit
from .cors import cors_middleware
from .errors import GatewayError, error_body, error_response, from_talkline
from .keys import GatewayKey
from .record import Exchange, Recorder
from .relay import Outcome, relay
from .requests import ClientRequest, chat_request, read_body, responses_request
from .upstreams import Upstreams
from .web import CONVERSATION_HEADER
from .web_api import not_yours

__all__ = ["DEFAULT_PORT", "MAX_REQUEST_BYTES", "GatewayConfig", "create_app"]

log = logging.getLogger("talkline.serve")
DEFAULT_PORT = 8787
MAX_REQUEST_BYTES = 8 << 20  # a request body: 8 MiB (images as data URLs included)


@dataclass(frozen=True)
class GatewayConfig:
    """How the gateway runs: the settings its upstreams come from, where it listens,
    whether keys are checked, the browser origins allowed (CORS), and whether exchanges
    are stored (in the settings' database)."""

    settings: Settings
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    no_auth: bool = False
    cors_origins: tuple[str, ...] = ()
    store: bool = True
    max_request_bytes: int = MAX_REQUEST_BYTES

    @property
    def store_path(self) -> Path:
        """The database the gateway's keys, the page and the exchanges use."""
        return self.settings.paths.database


class Gateway:
    """The state behind the routes: the upstreams and the store."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.upstreams = Upstreams(config.settings)
        self.recorder = Recorder(config.settings.paths if config.store else None)
        # The gateway keys, the page's conversations and what each key spent.
        self.keys = ConversationStore.open(config.settings.paths)

    async def key(self, request: Request) -> GatewayKey:
        found = auth.authenticate(request)  # AuthMiddleware refused the request without one
        if found is None:
            raise GatewayError(
                401, "a valid gateway key is required: send Authorization: Bearer <key> "
                "(the key from `talkline serve keys add NAME`; with the OpenAI SDK, "
                "api_key=... or OPENAI_API_KEY)", code="invalid_api_key")
        return found

    async def models(self, request: Request) -> Response:
        await self.key(request)
        return JSONResponse({"object": "list", "data": await self.upstreams.models()})

    async def chat(self, request: Request) -> Response:
        return await self._serve(request, responses=False)

    async def responses(self, request: Request) -> Response:
        return await self._serve(request, responses=True)

    async def _serve(self, request: Request, *, responses: bool) -> Response:
        key = await self.key(request)
        body = await read_body(request, self.config.max_request_bytes)
        asked = responses_request(body) if responses else chat_request(body)
        messages = fit(asked.messages, asked.model, asked.params.max_completion_tokens
                       or asked.params.max_tokens, request.headers)
        try:
            check_budget(self.keys, key, _worst_case(asked, messages))
        except KeyBudgetExceededError as exc:  # 429 insufficient_quota: SDKs do not retry
            return budget_response(exc)
        except TalklineError as exc:
            raise from_talkline(exc, "") from None
        conversation = request.headers.get(CONVERSATION_HEADER)
        if conversation is not None and not self._owns(key, conversation):
            return not_yours(conversation)
        upstream = self.upstreams.for_model(asked.model)
        client = self.upstreams.client(upstream, "responses" if responses else "chat")
        exchange = Exchange(key.name, asked.model, messages, asked.params.to_dict(),
                            conversation_id=conversation)
        if not asked.stream:
            try:
                resp = await client.complete(messages, params=asked.params)
            except TalklineError as exc:
                await self.recorder.record(_failed(exchange, exc))
                raise from_talkline(exc, upstream.label) from None
            finished = _with(exchange, response=resp)
            stored: BackgroundTask | None = None
            if exchange.conversation_id is not None:  # the page reads it back at once
                await self.recorder.record(finished)
            else:  # stored once the answer is sent: the client does not wait for the disk
                stored = BackgroundTask(self.recorder.record, finished)
            # The upstream's answer as it came (every field), when it is one answer.
            whole = resp.raw if resp.raw is not None and not resp.tool_messages else None
            return JSONResponse(whole if whole is not None else resp.to_dict(),
                                background=stored)
        return await self._stream(asked, messages, exchange, client, upstream.label, responses)

    async def _stream(self, asked: ClientRequest, messages: Sequence[Any],
                      exchange: Exchange, client: Any, label: str,
                      responses: bool) -> Response:
        stream = client.stream(messages, params=asked.params, resume=False)
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            first = None
        except TalklineError as exc:  # before the first byte: a status of its own
            await stream.aclose()
            await self.recorder.record(_failed(exchange, exc))
            raise from_talkline(exc, label) from None
        outcome = Outcome()

        async def done() -> None:
            ex = _with(exchange, response=stream.response, status=outcome.status,
                       error=outcome.error, partial="".join(outcome.text))
            await self.recorder.record(ex)

        events = relay(stream, first, server=label, responses=responses,
                       include_usage=asked.include_usage, outcome=outcome)
        if exchange.conversation_id is not None:
            # The page's conversation: stored before its last event, so the page that
            # reads the turn back (tokens, cost) on the end of the stream finds it.
            return StreamingResponse(_stored_before_the_end(events, done),
                                     media_type="text/event-stream",
                                     headers={"cache-control": "no-cache"})
        # Stored once the stream ended (or the client left): the end is not held back.
        return StreamingResponse(events, media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"},
                                 background=BackgroundTask(done))

    def _owns(self, key: GatewayKey, conversation: str) -> bool:
        """May `key` continue `conversation` (the page's `x-talkline-conversation`)? Its
        own, or any with `--no-auth` (the owner's machine)."""
        try:
            owner = self.keys.conversation_client(conversation)
        except ConversationNotFound:
            return False
        return self.config.no_auth or owner == key.name

    async def aclose(self) -> None:
        await self.upstreams.aclose()
        self.recorder.close()
        self.keys.close()


async def _stored_before_the_end(events: AsyncIterator[Any],
                                 store: Callable[[], Awaitable[None]]) -> AsyncIterator[Any]:
    """`events`, with `store()` awaited before the last one is sent (and, if the client
    leaves first, when the stream is closed): once only."""
    stored = False
    held: Any = None
    try:
        async for event in events:
            if held is not None:
                yield held
            held = event
        stored = True
        await store()
        if held is not None:
            yield held
    finally:
        if not stored:
            with anyio.CancelScope(shield=True):
                close = getattr(events, "aclose", None)
                if close is not None:
                    await close()  # the relay marks the reply interrupted first
                await store()


def _worst_case(asked: ClientRequest, messages: Sequence[Any]) -> float | None:
    """The most a request can cost (USD; None: price unknown), as the CLI's `--budget`
    counts it: the prompt (about 4 characters a token) and every output token it may take
    (the model's output limit when the client set none); 0 for the embedded model."""
    if asked.model == LOCAL_MODEL:
        return 0.0
    max_out = asked.params.max_completion_tokens or asked.params.max_tokens
    if max_out is None:
        info = lookup(asked.model)
        max_out = info.max_output if info is not None else None
    prompt = sum(len(m.text) for m in messages) // 4 + 1
    return worst_case_cost(asked.model, prompt, max_out, asked.params.n or 1)


def _with(ex: Exchange, **changes: Any) -> Exchange:
    import dataclasses

    if changes.get("response") is None:
        changes.pop("response", None)
    return dataclasses.replace(ex, **changes)


def _failed(ex: Exchange, exc: TalklineError) -> Exchange:
    return _with(ex, status="error", error=exc.message)


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


class CatchAll:
    """The last word on an exception no one handled: 500 `server_error` (when nothing was
    sent yet) and one log line with the exception's type, never its traceback or text
    (which could hold a key). Not re-raised: the server has nothing more to log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error("500 on %s %s: %s", scope.get("method", ""), scope.get("path", ""),
                      type(exc).__name__)
            if started or scope["type"] != "http":
                return
            response = JSONResponse(error_body(
                "the gateway failed on this request; its log names the error",
                "server_error"), status_code=500)
            await response(scope, receive, send)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    what = ("this path does not exist on the gateway: it serves /v1/chat/completions, "
            "/v1/responses, /v1/models and /healthz") if status == 404 else \
        f"{request.method} is not allowed on {request.url.path}"
    return JSONResponse(error_body(what, "invalid_request_error"), status_code=status)


def _web_routes(config: GatewayConfig) -> list[BaseRoute]:
    """The web page's routes (`serve.web.routes`), when that module is installed."""
    try:
        web = importlib.import_module("talkline.serve.web")
    except ModuleNotFoundError:
        return []
    routes: list[BaseRoute] = list(web.routes(config))
    return routes


def create_app(config: GatewayConfig) -> Starlette:
    gateway = Gateway(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.aclose()

    routes: list[BaseRoute] = [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/v1/models", gateway.models, methods=["GET"]),
        Route("/v1/chat/completions", gateway.chat, methods=["POST"]),
        Route("/v1/responses", gateway.responses, methods=["POST"]),
        *_web_routes(config),
    ]
    middleware = [Middleware(CatchAll), *cors_middleware(config.cors_origins),
                  auth.auth_middleware(gateway.keys, no_auth=config.no_auth)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={GatewayError: _gateway_error, 404: _not_found,
                                        405: _not_found})
    app.state.config = config
    app.state.gateway = gateway
    return app
