"""The web chat page: `GET /`, its files under `/static/`, the login, and a small JSON API
over the store for the page (the key's own conversations, their messages, a new chat,
retry).

The page is just another client of the gateway: it lists models with `GET /v1/models`
and sends with `POST /v1/chat/completions` (`stream: true`), naming the conversation to
continue in the `x-talkline-conversation` header (`CONVERSATION_HEADER`). A person sees
only the conversations labelled with their key's name; the whole store only with
`--no-auth` (the owner, on a loopback host).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from ..store import ConversationStore, StoreError
from . import auth
from .web_api import PAGE_HEADERS, WebApi, error, secured

__all__ = ["CONVERSATION_HEADER", "PAGE_HEADERS", "STATIC_DIR", "WebConfig", "routes", "secured"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONVERSATION_HEADER = "x-talkline-conversation"
LOGIN_REFUSED = (
    "That gateway key was not accepted. Check that you pasted the whole key, or ask the "
    "gateway's owner for one: talkline serve keys add NAME."
)
CROSS_SITE = (
    "Cross-site request refused: use the chat page this gateway serves, or send the "
    "request without an Origin header (scripts and SDKs do)."
)
KEY_MISSING = "Paste your gateway key (the one talkline serve keys add NAME showed once)."


class WebConfig(Protocol):
    """What the page needs of the gateway's configuration (`serve.app.GatewayConfig`)."""

    @property
    def store_path(self) -> str | Path: ...

    @property
    def no_auth(self) -> bool: ...


class _StaticFiles(StaticFiles):
    """The page's files, with the page's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:  # a missing file: a plain 404, with the headers too
            response = PlainTextResponse(exc.detail, status_code=exc.status_code)
        return secured(response)


async def _key_text(request: Request) -> str | None:
    """The `key` of a JSON or a form body; None when the body is neither."""
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            return None
        value = body.get("key") if isinstance(body, dict) else None
        return value if isinstance(value, str) else None
    if kind == "application/x-www-form-urlencoded":
        found = parse_qs(raw.decode("utf-8", "replace")).get("key", [])
        return found[0] if found else ""
    return None


async def _login(request: Request) -> Response:
    text = await _key_text(request)
    if not text or not text.strip():
        return secured(error(400, KEY_MISSING, "invalid_request_error", "key"))
    session = auth.login(request, text)
    if session is None:
        return secured(error(401, LOGIN_REFUSED, "invalid_request_error", "key",
                             "invalid_api_key"))
    response = JSONResponse({"ok": True})
    auth.set_session_cookie(response, session, request)
    response.headers["Cache-Control"] = "no-store"
    return secured(response)


async def _logout(request: Request) -> Response:
    auth.logout(request)
    response = JSONResponse({"ok": True})
    auth.clear_session_cookie(response)
    return secured(response)


async def _index(request: Request) -> Response:
    response = FileResponse(STATIC_DIR / "index.html", media_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return secured(response)


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: Endpoint) -> Endpoint:
    """A store that cannot be read or written: an OpenAI-shaped 503 saying why."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except StoreError as exc:
            message = " ".join(str(exc).split())
            return secured(error(503, message, "server_error", code="store_unavailable"))

    return run


def _same_site(endpoint: Endpoint) -> Endpoint:
    """A browser's POST from another site is refused (besides the SameSite cookie)."""

    async def run(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return secured(error(403, CROSS_SITE, code="cross_site_request"))
        return await endpoint(request)

    return run


def routes(config: WebConfig) -> list[BaseRoute]:
    """The page's routes, to mount at the gateway's root."""
    api = WebApi(lambda: ConversationStore(config.store_path), whole_store=config.no_auth)
    return [
        Route("/", _index, methods=["GET"]),
        Route("/login", _same_site(_login), methods=["POST"]),
        Route("/logout", _same_site(_logout), methods=["POST"]),
        Route("/api/session", _guarded(api.session), methods=["GET"]),
        Route("/api/conversations", _guarded(api.list_conversations), methods=["GET"]),
        Route("/api/conversations", _same_site(_guarded(api.new_conversation)), methods=["POST"]),
        Route("/api/conversations/{conversation_id}", _guarded(api.conversation), methods=["GET"]),
        Route("/api/conversations/{conversation_id}/retry", _same_site(_guarded(api.retry)),
              methods=["POST"]),
        Mount("/static", app=_StaticFiles(directory=STATIC_DIR), name="static"),
    ]
