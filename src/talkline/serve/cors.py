"""CORS: off unless `--cors ORIGIN` names the web origins allowed to call the gateway."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from ..errors import ConfigError

__all__ = ["check_origins", "cors_middleware"]


def check_origins(values: Iterable[str]) -> tuple[str, ...]:
    """Each `--cors` value as an origin (`https://app.example.com`, `http://localhost:3000`),
    or a ConfigError saying what an origin looks like."""
    out: list[str] = []
    for value in values:
        text = value.strip().rstrip("/")
        parts = urlsplit(text)
        ok = (parts.scheme in ("http", "https") and bool(parts.hostname)
              and not parts.path and not parts.query and not parts.fragment
              and "@" not in parts.netloc)
        try:
            _ = parts.port
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(
                f"--cors {value!r} is not a web origin.",
                hint="Give the scheme, host and port the page is served from, for example "
                "--cors http://localhost:3000 (repeat --cors for more; * is not accepted).",
            )
        if text not in out:
            out.append(text)
    return tuple(out)


def cors_middleware(origins: Iterable[str]) -> list[Middleware]:
    """Starlette's CORSMiddleware for exactly `origins` (none: no CORS at all). Put it
    outside AuthMiddleware so that preflight requests are answered without a key."""
    allowed = list(check_origins(origins))
    if not allowed:
        return []
    return [Middleware(CORSMiddleware, allow_origins=allowed, allow_credentials=False,
                       allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type"], max_age=600)]
