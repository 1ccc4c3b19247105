"""The page's JSON API over the store: a key sees and continues only its own
conversations (those labelled with its name); the owner with `--no-auth` sees them all.

Every answer is JSON; errors are OpenAI-shaped (`{"error": {message, type, param,
code}}`) and never say whether another key's conversation exists.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..store import Conversation, ConversationNotFound, ConversationStore, StoredMessage
from . import auth
from .keys import OWNER, GatewayKey

__all__ = ["NOT_LOGGED_IN", "PAGE_HEADERS", "WebApi", "error", "not_yours", "secured"]

NOT_LOGGED_IN = (
    "Not logged in: log in on the page with your gateway key, or send "
    "Authorization: Bearer <gateway key>."
)
NOTHING_TO_RETRY = "This conversation has no reply to retry yet: send a message first."
BAD_BODY = 'The request body must be a JSON object, e.g. {"model": "gpt-4o-mini"}.'
LIST_LIMIT = 200
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def error(status: int, message: str, kind: str = "invalid_request_error",
          param: str | None = None, code: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def not_yours(conversation_id: str) -> JSONResponse:
    return error(404, f"None of your conversations has the id {conversation_id!r}. Pick one "
                 "from the list, or start a new chat.", param="conversation",
                 code="conversation_not_found")


def _conversation(c: Conversation) -> dict[str, Any]:
    return {"id": c.id, "title": c.title, "created": c.created, "updated": c.updated,
            "model": c.model, "system": c.system, "turns": c.turns,
            "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
            "cost": c.cost}


def _message(m: StoredMessage) -> dict[str, Any]:
    return {"id": m.id, "role": m.role, "content": m.content, "status": m.status,
            "model": m.model, "error": m.error, "prompt_tokens": m.prompt_tokens,
            "completion_tokens": m.completion_tokens, "cost": m.cost,
            "cost_estimated": m.cost_estimated, "created": m.created}


def _ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _secured(response: Response) -> Response:
    """The page's security headers on a response of the page's routes."""
    for name, value in PAGE_HEADERS.items():
        response.headers[name] = value
    return response




class WebApi:
    """The page's endpoints over one store, opened on first use."""

    def __init__(self, open_store: Callable[[], ConversationStore], *,
                 whole_store: bool) -> None:
        self._open_store = open_store
        self._store: ConversationStore | None = None
        self._lock = threading.Lock()
        self.whole_store = whole_store

    def store(self) -> ConversationStore:
        with self._lock:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    def _who(self, request: Request) -> tuple[GatewayKey | None, str | None]:
        """The key, and the client label it may see (None: every conversation)."""
        key = auth.authenticate(request)
        if key is None:
            return None, None
        sees_all = self.whole_store and key.name == OWNER.name
        return key, (None if sees_all else key.name)

    def _owned(self, label: str | None, conversation_id: str) -> bool:
        try:
            return label is None or self.store().conversation_client(conversation_id) == label
        except ConversationNotFound:
            return False

    async def session(self, request: Request) -> Response:
        key, label = self._who(request)
        if key is None:
            return _secured(error(401, NOT_LOGGED_IN, code="invalid_api_key"))
        return _secured(_ok({"name": key.name, "whole_store": label is None}))

    async def list_conversations(self, request: Request) -> Response:
        key, label = self._who(request)
        if key is None:
            return _secured(error(401, NOT_LOGGED_IN, code="invalid_api_key"))
        search = request.query_params.get("q", "")[:500]
        found = await run_in_threadpool(
            self.store().client_conversations, label, search=search, limit=LIST_LIMIT
        )
        return _secured(_ok({"data": [_conversation(c) for c in found]}))

    async def new_conversation(self, request: Request) -> Response:
        key, _ = self._who(request)
        if key is None:
            return _secured(error(401, NOT_LOGGED_IN, code="invalid_api_key"))
        try:
            body: Any = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _secured(error(400, BAD_BODY))
        model, system = body.get("model"), body.get("system")
        if not isinstance(model, (str, type(None))) or not isinstance(system, (str, type(None))):
            return _secured(error(400, "model and system must be strings (or left out).",
                                  param="model" if not isinstance(model, (str, type(None)))
                                  else "system"))

        def create() -> Conversation:
            store = self.store()
            conv = store.create_conversation(model=model or None, system=system or None)
            store.set_conversation_client(conv.id, key.name)
            return conv

        conv = await run_in_threadpool(create)
        return _secured(_ok(_conversation(conv), 201))

    async def conversation(self, request: Request) -> Response:
        key, label = self._who(request)
        if key is None:
            return _secured(error(401, NOT_LOGGED_IN, code="invalid_api_key"))
        cid = request.path_params["conversation_id"]
        if not await run_in_threadpool(self._owned, label, cid):
            return _secured(not_yours(cid))
        store = self.store()
        conv = await run_in_threadpool(store.get_conversation, cid)
        messages = await run_in_threadpool(store.messages, cid)
        return _secured(_ok({"conversation": _conversation(conv),
                             "messages": [_message(m) for m in messages]}))

    async def retry(self, request: Request) -> Response:
        """Move the head back before the last user message: sending it again then adds
        a new branch beside the old reply (the store keeps both)."""
        key, label = self._who(request)
        if key is None:
            return _secured(error(401, NOT_LOGGED_IN, code="invalid_api_key"))
        cid = request.path_params["conversation_id"]
        if not await run_in_threadpool(self._owned, label, cid):
            return _secured(not_yours(cid))
        store = self.store()
        path = await run_in_threadpool(store.messages, cid)
        users = [m for m in path if m.role == "user"]
        if not users:
            return _secured(error(409, NOTHING_TO_RETRY, code="nothing_to_retry"))
        last = users[-1]
        await run_in_threadpool(store.set_head, cid, last.parent_id)
        kept = [_message(m) for m in path if m.position < last.position]
        return _secured(_ok({"messages": kept, "retry": _message(last)}))


secured = _secured
