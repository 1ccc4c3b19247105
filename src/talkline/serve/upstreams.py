"""Which upstream serves a model name, and one client core per upstream.

A model is served by the first `[servers.NAME]` whose `models` list names it; the
embedded model (`local`, `[models.NAME]`) by the client core's local backend; any other
name by the default server of the environment and config (`OPENAI_BASE_URL`,
`OPENAI_API_KEY`, `base_url`, the key store). Every upstream has one `AsyncClient` per
dialect (chat, responses), and all of them share ONE `RateLimiter`, whose buckets are
keyed by (base URL, model): every client of the gateway waits in the same line for the
same upstream limit. The upstream key is read here and handed only to the wire.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..client import AsyncClient
from ..errors import ConfigError, TalklineError
from ..ratelimit import RateLimiter
from ..settings import DEFAULT_BASE_URL, LOCAL_MODEL, Settings
from ..settings.keys import KeyStore

__all__ = ["MODELS_CACHE_SECONDS", "Upstream", "Upstreams"]

log = logging.getLogger("talkline.serve")
MODELS_CACHE_SECONDS = 30.0
DEFAULT = "default"


@dataclass
class Upstream:
    """One server the gateway sends to: its name, its settings (URL and key) and models
    (empty for the default server: it serves every name not mapped elsewhere)."""

    name: str
    settings: Settings
    models: tuple[str, ...] = ()
    clients: dict[str, AsyncClient] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The name shown in messages: the config name, else the URL's host."""
        if self.name != DEFAULT:
            return repr(self.name)
        return urlsplit(self.settings.base_url).netloc or self.settings.base_url


def _key(name: str, spec: Mapping[str, Any], settings: Settings,
         environ: Mapping[str, str]) -> str | None:
    env_name = spec.get("key_env")
    if env_name:
        value = environ.get(str(env_name), "").strip()
        if not value:
            raise ConfigError(f"[servers.{name}] reads its key from {env_name}, which is not "
                              "set", hint=f"export {env_name}=... before talkline serve, or "
                              "use key_name with a key from `talkline keys set`.")
        return value
    key_name = spec.get("key_name")
    if key_name:
        stored = KeyStore(settings.paths).get(str(key_name))
        if not stored:
            raise ConfigError(f"[servers.{name}] uses the stored key {key_name!r}, which is "
                              "not in the key store",
                              hint=f"Run: talkline keys set {key_name}")
        return stored
    return None


class Upstreams:
    """The routing table and the clients, built once when the gateway starts."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.settings = settings
        self.limiter = RateLimiter(rpm=settings.rpm, tpm=settings.tpm, probe_first=True)
        self.default = Upstream(DEFAULT, settings)
        self.servers: list[Upstream] = []
        self._by_model: dict[str, Upstream] = {}
        for name, spec in settings.servers.items():
            upstream = Upstream(name, settings.replace(
                base_url=str(spec["base_url"]).rstrip("/"),
                api_key=_key(name, spec, settings, env), key_source=f"[servers.{name}]"),
                tuple(str(m) for m in spec.get("models") or ()))
            self.servers.append(upstream)
            for model in upstream.models:
                self._by_model.setdefault(model, upstream)
        self._models: tuple[float, list[dict[str, Any]]] | None = None

    def for_model(self, model: str) -> Upstream:
        found = self._by_model.get(model)
        if found is not None:
            return found
        return self.default

    def client(self, upstream: Upstream, api: str) -> AsyncClient:
        """The one client of `upstream` for `api` ("chat" or "responses")."""
        client = upstream.clients.get(api)
        if client is None:
            # Context fitting, budgets and the system prompt are the gateway's business,
            # not the client core's: it sends the messages as they come.
            client = AsyncClient(settings=upstream.settings.replace(api=api),
                                 rate_limiter=self.limiter)
            upstream.clients[api] = client
        return client

    async def models(self) -> list[dict[str, Any]]:
        """Every configured server's models (asked, cached `MODELS_CACHE_SECONDS`; a
        server that fails is skipped with a log line), then the embedded model."""
        now = time.monotonic()
        if self._models is not None and now - self._models[0] < MODELS_CACHE_SECONDS:
            return self._models[1]
        seen: set[str] = set()
        out: list[dict[str, Any]] = []

        def add(model_id: str, owner: str) -> None:
            if model_id not in seen:
                seen.add(model_id)
                out.append({"id": model_id, "object": "model", "created": 0,
                            "owned_by": owner})

        for upstream in [*self.servers, self.default]:
            if upstream is self.default and not self._default_lists():
                continue
            try:
                names = await self._ask(upstream)
            except TalklineError as exc:
                log.warning("GET /v1/models: %s skipped (%s)", upstream.label,
                            type(exc).__name__)
                names = list(upstream.models)
            for name in names:
                add(name, upstream.name)
        add(LOCAL_MODEL, "talkline")
        for name in self.settings.local_models:
            add(name, "talkline")
        self._models = (now, out)
        return out

    def _default_lists(self) -> bool:
        s = self.settings
        return bool(s.api_key) or s.base_url != DEFAULT_BASE_URL

    async def _ask(self, upstream: Upstream) -> list[str]:
        client = self.client(upstream, "chat")
        probe = next((m for m in upstream.models if not upstream.settings.is_local_model(m)),
                     "gpt-4o-mini")
        names = await client.backend_for(probe).models()
        return [str(n) for n in names]

    async def aclose(self) -> None:
        for upstream in [*self.servers, self.default]:
            for client in upstream.clients.values():
                await client.aclose()
