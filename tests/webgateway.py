"""STAND-IN for the gateway (`serve.app`, the GATEWAY part of issue #16) and its keys, for
the web page's tests, until the branches are merged.

It is the smallest real gateway the page needs: the page's own routes (`serve.web`),
`GET /v1/models` and a streamed `POST /v1/chat/completions` relayed to a ScriptedServer
with the upstream key, the exchange stored in the conversation that the
`x-talkline-conversation` header names (which must be the key's own), a disconnect
marking the reply `interrupted`. It runs on uvicorn on 127.0.0.1, port 0, in a thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from talkline.planning.costs import cost_of
from talkline.serve import auth, web
from talkline.serve.web_api import NOT_LOGGED_IN, error, not_yours
from talkline.store import ConversationStore
from talkline.types import Usage

UPSTREAM_KEY = "sk-test-upstream-0000"


@dataclass(frozen=True)
class StandInConfig:
    """The fields of `serve.app.GatewayConfig` the page reads, and the stand-in's upstream."""

    store_path: Path
    upstream: str
    no_auth: bool = False


def add_client_column(path: Path) -> None:
    """STAND-IN for the keys' migration: the `client` label on conversations."""
    ConversationStore(path).close()  # the store's own migrations first
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(conversations)")}
        if "client" not in columns:
            conn.execute("ALTER TABLE conversations ADD COLUMN client TEXT")
    conn.close()


def create_app(config: StandInConfig, keys: dict[str, auth.GatewayKey]) -> Starlette:
    add_client_column(config.store_path)
    store = ConversationStore(config.store_path)
    http = httpx.AsyncClient(base_url=config.upstream, timeout=30.0)

    async def models(request: Request) -> Response:
        if auth.authenticate(request) is None:
            return error(401, NOT_LOGGED_IN, code="invalid_api_key")
        upstream = await http.get("/models", headers={"authorization": f"Bearer {UPSTREAM_KEY}"})
        return JSONResponse(upstream.json(), status_code=upstream.status_code)

    async def completions(request: Request) -> Response:
        key = auth.authenticate(request)
        if key is None:
            return error(401, NOT_LOGGED_IN, code="invalid_api_key")
        body: dict[str, Any] = json.loads(await request.body())
        cid = request.headers.get(web.CONVERSATION_HEADER)
        if cid is None:
            cid = store.create_conversation(model=body.get("model")).id
            store.set_conversation_client(cid, key.name)
        elif not (config.no_auth or store.conversation_client(cid) == key.name):
            return not_yours(cid)
        store.append_message(cid, "user", body["messages"][-1]["content"])
        pending = store.append_message(cid, "assistant", "", status="pending",
                                       requested_model=body.get("model"))
        headers = {"authorization": f"Bearer {UPSTREAM_KEY}"}
        upstream = await http.send(http.build_request("POST", "/chat/completions", json=body,
                                                      headers=headers), stream=True)
        if upstream.status_code != 200:
            answer = json.loads(await upstream.aread())
            await upstream.aclose()
            store.update_message(pending.id, status="error",
                                 error=answer["error"]["message"])
            return JSONResponse(answer, status_code=upstream.status_code)
        return StreamingResponse(_relay(upstream, body, pending.id),
                                 media_type="text/event-stream",
                                 headers={web.CONVERSATION_HEADER: cid})

    async def _relay(upstream: httpx.Response, body: dict[str, Any],
                     message_id: int) -> AsyncIterator[bytes]:
        text, usage, model, done = "", None, body.get("model"), False
        try:
            async for line in upstream.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    chunk = json.loads(line[6:])
                    model = chunk.get("model") or model
                    usage = Usage.from_dict(chunk.get("usage")) or usage
                    for choice in chunk.get("choices") or []:
                        text += (choice.get("delta") or {}).get("content") or ""
                yield (line + "\n").encode()
            done = True
        finally:
            await upstream.aclose()  # a client that went away cancels the upstream request
            fields: dict[str, Any] = {"content": text, "model": model,
                                      "status": "complete" if done else "interrupted"}
            if usage is not None:
                cost = cost_of(str(model), usage)
                fields.update(prompt_tokens=usage.prompt_tokens,
                              completion_tokens=usage.completion_tokens,
                              cost=cost.amount if cost else None)
            store.update_message(message_id, **fields)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await http.aclose()
        store.close()

    app = Starlette(lifespan=lifespan, routes=[*web.routes(config),
                            Route("/v1/models", models, methods=["GET"]),
                            Route("/v1/chat/completions", completions, methods=["POST"])])
    app.state.config = config
    app.state.gateway_keys = keys
    return app


@contextmanager
def running(app: Starlette) -> Iterator[str]:
    """The app on uvicorn at 127.0.0.1, a free port; yields its URL ("http://127.0.0.1:N")."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           loop="asyncio", http="h11", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
