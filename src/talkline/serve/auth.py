"""Who is asking: a gateway key from `Authorization: Bearer …` or the page's session.

`AuthMiddleware` answers a request without a valid key with OpenAI's 401 (never echoing
what was sent), except for the public paths (`/healthz`, the page, its static files, the
login route). The page's session cookie `talkline_session` holds a random session id, not
the key: the key is typed once into the login form, the id is known only to this process
(a restart logs everyone out), and `logout` or `talkline serve keys rm` ends it at once.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..store import ConversationStore, GatewayKey, StoreError
from .keys import OWNER, find_key

__all__ = [
    "COOKIE",
    "AuthMiddleware",
    "Authenticator",
    "auth_middleware",
    "authenticate",
    "clear_session_cookie",
    "error_response",
    "login",
    "logout",
    "set_session_cookie",
    "unauthorized",
]

COOKIE = "talkline_session"
SESSION_SECONDS = 30 * 24 * 3600
# Open without a key: the page, its files and login, and its JSON API (`serve.web_api`), which
# asks `authenticate` itself and answers the page's own "log in" message.
PUBLIC_PATHS = ("/healthz", "/", "/login", "/logout", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/", "/api/")
_STATE = "talkline_auth"
_KEY = "gateway_key"


def error_response(status: int, message: str, type_: str, code: str | None, *,
                   param: str | None = None, headers: dict[str, str] | None = None
                   ) -> JSONResponse:
    """An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def unauthorized(sent: bool) -> JSONResponse:
    """The 401 for a request that sent no key (`sent` False) or one that is not valid."""
    if sent:
        message = ("Incorrect API key provided: it is not a key of this gateway (or it was "
                   "removed). Check the key, or ask the gateway's owner for one: "
                   "talkline serve keys add NAME")
    else:
        message = ("Incorrect API key provided: none was sent. Send a gateway key as "
                   "`Authorization: Bearer <key>`; the gateway's owner creates one with "
                   "talkline serve keys add NAME")
    return error_response(401, message, "invalid_request_error", "invalid_api_key",
                          headers={"WWW-Authenticate": "Bearer"})


def store_unavailable(exc: StoreError) -> JSONResponse:
    """503 when the keys cannot be read: the client may try again. Why is logged for the
    gateway's owner, not sent (it names the database's path)."""
    logging.getLogger("talkline.serve").error("Cannot check a gateway key: %s", exc)
    return error_response(503, "The gateway cannot check keys just now: its database cannot "
                          "be read. Try again in a moment; if it lasts, tell the gateway's "
                          "owner (the reason is in the gateway's log).", "server_error",
                          "key_store_unavailable", headers={"retry-after": "1"})


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else header.strip()


class Authenticator:
    """Keys from the store, sessions in memory; with `no_auth` everyone is the owner."""

    def __init__(self, store: ConversationStore, *, no_auth: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.no_auth = no_auth
        self.clock = clock
        self._sessions: dict[str, tuple[str, float]] = {}  # id -> (key id, expiry)
        self._lock = threading.Lock()

    def from_token(self, token: str | None) -> GatewayKey | None:
        if self.no_auth:
            return OWNER
        return find_key(self.store, token) if token else None

    def from_session(self, session: str | None) -> GatewayKey | None:
        if self.no_auth:
            return OWNER
        if not session:
            return None
        with self._lock:
            found = self._sessions.get(session)
            if found is not None and found[1] <= self.clock():
                del self._sessions[session]
                found = None
        if found is None:
            return None
        key = self.store.gateway_key(found[0])
        if key is None:  # the key was removed: so is the session
            self.logout(session)
        return key

    def for_connection(self, conn: HTTPConnection) -> tuple[GatewayKey | None, bool]:
        """The key of a request, and whether it sent anything that looked like one."""
        token = _bearer(conn.headers.get("authorization"))
        if token:
            return self.from_token(token), True
        session = conn.cookies.get(COOKIE)
        return self.from_session(session), bool(session)

    def login(self, key_text: str) -> str | None:
        """A new session id (the cookie's value) for a valid key, else None."""
        key = self.from_token(key_text.strip())
        if key is None:
            return None
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session] = (key.id, self.clock() + SESSION_SECONDS)
        return session

    def logout(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._sessions.pop(session, None)


class AuthMiddleware:
    """Refuses requests without a valid key; puts the key where `authenticate` finds it."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, *,
                 public_paths: Iterable[str] = PUBLIC_PATHS,
                 public_prefixes: Iterable[str] = PUBLIC_PREFIXES) -> None:
        self.app = app
        self.auth = authenticator
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = tuple(public_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state[_STATE] = self.auth
        path = scope.get("path", "")
        if path in self.public_paths or path.startswith(self.public_prefixes):
            await self.app(scope, receive, send)
            return
        try:
            key, sent = self.auth.for_connection(HTTPConnection(scope))
        except StoreError as exc:  # a locked, damaged or vanished database
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011})
            else:
                await store_unavailable(exc)(scope, receive, send)
            return
        if key is None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await unauthorized(sent)(scope, receive, send)
            return
        state[_KEY] = key
        await self.app(scope, receive, send)


def _authenticator(conn: HTTPConnection) -> Authenticator:
    auth = getattr(conn.state, _STATE, None)
    if not isinstance(auth, Authenticator):
        raise RuntimeError("authenticate() needs AuthMiddleware around the app")
    return auth


def authenticate(conn: HTTPConnection) -> GatewayKey | None:
    """The request's gateway key (the owner's with `--no-auth`), or None."""
    key = getattr(conn.state, _KEY, None)
    if isinstance(key, GatewayKey):
        return key
    return _authenticator(conn).for_connection(conn)[0]


def login(conn: HTTPConnection, key_text: str) -> str | None:
    """For the page's login route: the session cookie's value for `key_text`, or None."""
    return _authenticator(conn).login(key_text)


def logout(conn: HTTPConnection) -> None:
    """End the request's session (the cookie is cleared with `clear_session_cookie`)."""
    _authenticator(conn).logout(conn.cookies.get(COOKIE))


def set_session_cookie(response: Response, session: str, conn: HTTPConnection) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site sends it), Path=/;
    Secure when the page came over https (a plain-http loopback gateway has no TLS)."""
    response.set_cookie(COOKIE, session, max_age=SESSION_SECONDS, path="/", httponly=True,
                        samesite="strict", secure=conn.url.scheme == "https")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def auth_middleware(store: ConversationStore, *, no_auth: bool = False) -> Middleware:
    """For `Starlette(middleware=[*cors_middleware(origins), auth_middleware(store)])`."""
    return Middleware(AuthMiddleware, authenticator=Authenticator(store, no_auth=no_auth))
