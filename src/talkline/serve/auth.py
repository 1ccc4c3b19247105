"""STAND-IN for the gateway keys' `serve/auth.py` (the KEYS part of issue #16).

The web page's branch needs only these names; the real module (keys stored hashed in
the store, sessions, budgets) replaces this file when the branches are merged. Here the
keys are a mapping of key text to `GatewayKey` in `app.state.gateway_keys`, and the
session cookie holds the key text itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

__all__ = ["OWNER", "SESSION_COOKIE", "GatewayKey", "authenticate", "login"]

SESSION_COOKIE = "talkline_session"


@dataclass(frozen=True)
class GatewayKey:
    id: str
    name: str
    daily_budget: float | None = None
    monthly_budget: float | None = None
    created: float = 0.0


OWNER = GatewayKey(id="owner", name="owner")


def _keys(request: Request) -> Mapping[str, GatewayKey]:
    found: Any = getattr(request.app.state, "gateway_keys", {})
    return found if isinstance(found, Mapping) else {}


def _no_auth(request: Request) -> bool:
    config = getattr(request.app.state, "config", None)
    return bool(getattr(config, "no_auth", False))


def authenticate(request: Request) -> GatewayKey | None:
    """The key of `Authorization: Bearer ...` or of the session cookie; the owner with
    `--no-auth`; None when there is no valid one."""
    if _no_auth(request):
        return OWNER
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = request.cookies.get(SESSION_COOKIE, "")
    return _keys(request).get(token.strip()) if token else None


def login(request: Request, key_text: str) -> str | None:
    """The session cookie's value for a valid gateway key, else None."""
    text = key_text.strip()
    return text if text and text in _keys(request) else None
