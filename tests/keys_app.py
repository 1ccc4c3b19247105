"""A minimal starlette app behind the KEYS middleware, served by uvicorn on 127.0.0.1 in a
thread: a stand-in for the GATEWAY's app until it lands (the lead reconciles).

`/v1/chat/completions` does what the gateway does around a request, in the least code:
authenticate, estimate with the CLI's preflight, check the key's budget, forward to the
upstream with the upstream's key (never the client's), store the exchange labelled with
the key's name.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from talkline.planning.preflight import Preflight
from talkline.serve.auth import (
    Authenticator,
    AuthMiddleware,
    authenticate,
    clear_session_cookie,
    login,
    logout,
    set_session_cookie,
)
from talkline.serve.budgets import BudgetGuard, KeyBudgetExceededError, budget_response
from talkline.serve.cors import cors_middleware
from talkline.settings import Settings
from talkline.store import ConversationStore
from talkline.types import ChatParams, Message, Usage

UPSTREAM_KEY = "sk-test-upstream-key-0001"


def build_app(store: ConversationStore, *, upstream: str | None = None, no_auth: bool = False,
              cors: tuple[str, ...] = (), clock: Callable[[], float] = time.time
              ) -> Starlette:
    auth = Authenticator(store, no_auth=no_auth, clock=clock)
    settings = Settings.resolve(api_key=UPSTREAM_KEY)
    preflight = Preflight(settings, store=store)
    guard = BudgetGuard(store, clock=clock)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def whoami(request: Request) -> Response:
        key = authenticate(request)
        assert key is not None  # the middleware let it through
        return JSONResponse({"name": key.name})

    async def do_login(request: Request) -> Response:
        form = await request.json()
        session = login(request, str(form.get("key", "")))
        if session is None:
            return JSONResponse({"ok": False}, status_code=401)
        response = JSONResponse({"ok": True})
        set_session_cookie(response, session, request)
        return response

    async def do_logout(request: Request) -> Response:
        logout(request)
        response = JSONResponse({"ok": True})
        clear_session_cookie(response)
        return response

    async def chat(request: Request) -> Response:
        request.app.state.chat_calls += 1
        key = authenticate(request)
        assert key is not None
        body: dict[str, Any] = await request.json()
        model = str(body["model"])
        messages = [Message(m["role"], m["content"]) for m in body["messages"]]
        params = ChatParams(max_tokens=body.get("max_tokens"))
        prepared = preflight.prepare(messages, model, params, budget=False)
        with ExitStack() as held:  # the worst case is held until the exchange is stored
            try:
                held.enter_context(guard.reserve(key, preflight.worst_case(prepared, model)))
            except KeyBudgetExceededError as exc:
                return budget_response(exc)
            assert upstream is not None
            async with httpx.AsyncClient() as client:
                answer = await client.post(f"{upstream}/chat/completions", json=body,
                                           headers={"Authorization": f"Bearer {UPSTREAM_KEY}"})
            data = answer.json()
            usage = Usage.from_dict(data["usage"])
            cost = preflight.cost(model, usage)
            conv = store.create_conversation(model=model, client=key.name)
            store.append_message(conv.id, "user", messages[-1].text)
            store.append_message(conv.id, "assistant", data["choices"][0]["message"]["content"],
                                 prompt_tokens=usage.prompt_tokens,
                                 completion_tokens=usage.completion_tokens,
                                 cost=None if cost is None else cost.amount)
        return JSONResponse(data)

    routes = [Route("/healthz", healthz), Route("/login", do_login, methods=["POST"]),
              Route("/logout", do_logout, methods=["POST"]), Route("/whoami", whoami),
              Route("/v1/chat/completions", chat, methods=["POST"])]
    middleware = [*cors_middleware(cors), Middleware(AuthMiddleware, authenticator=auth)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.chat_calls = 0
    return app


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """`app` on uvicorn at 127.0.0.1 on a free port, in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
