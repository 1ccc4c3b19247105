"""The real gateway (`talkline.serve.app.create_app`) for the web page's tests: uvicorn on
127.0.0.1, a free port, in a thread; the upstream a ScriptedServer reached with its own
key; the gateway keys the tests name stored (hashed) in the real store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from talkline.serve.app import GatewayConfig
from talkline.serve.app import create_app as create_gateway
from talkline.serve.keys import hash_token
from talkline.settings import Settings
from talkline.store import ConversationStore

UPSTREAM_KEY = "sk-test-upstream-0000"


@dataclass(frozen=True)
class StandInConfig:
    """Where the test's store is, the upstream, and whether keys are checked."""

    store_path: Path
    upstream: str
    no_auth: bool = False


def _settings(config: StandInConfig) -> Settings:
    """Settings whose database is `config.store_path` (TALKLINE_HOME is its folder)."""
    home = config.store_path.parent
    settings = Settings.resolve(base_url=config.upstream, api_key=UPSTREAM_KEY,
                                environ={"TALKLINE_HOME": str(home)})
    assert settings.paths.database == config.store_path, (
        f"the tests' store must be {settings.paths.database}")
    return settings


def create_app(config: StandInConfig, keys: Mapping[str, str]) -> Starlette:
    """The gateway over `config`, with `keys` (token -> name) stored as gateway keys."""
    settings = _settings(config)
    with ConversationStore.open(settings.paths) as store:
        for token, name in keys.items():
            store.add_gateway_key(name, hash_token(token))
    return create_gateway(GatewayConfig(settings=settings, no_auth=config.no_auth))


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
